/**
 * The {@code vtprune} command line (picocli): {@code demo}, {@code prune}, {@code rollout},
 * {@code flops} (design §6). Commands print JSON on stdout and one line on stderr when they fail:
 * exit code 2 when the input was bad (the message names the flag, file or tensor), 1 for an
 * internal failure.
 *
 * <p>The top layer: it may use every other package and nothing uses it. It owns argument parsing,
 * input files and output formatting, never computation.
 */
package dev.vtprune.cli;
