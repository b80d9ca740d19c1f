package dev.vtprune.cli;

import picocli.CommandLine.Option;

/**
 * PTP's two options, shared by {@code demo}, {@code forward} and {@code prune} through picocli's
 * {@code @Mixin}: one definition of their flags, defaults, help text and range checks.
 */
final class PtpOptions {
    @Option(names = "--ratio", defaultValue = "0.5",
            description = "Fraction of the visual tokens dropped, in [0, 1). Default: ${DEFAULT-VALUE}.")
    double ratio;

    @Option(names = "--alpha", defaultValue = "0.5",
            description = "PTP weight of the instruction scores, in [0, 1]. Default: ${DEFAULT-VALUE}.")
    double alpha;

    /** Both in range, else an error naming the flag (expected vs given). */
    void check() {
        if (!(ratio >= 0 && ratio < 1)) throw new IllegalArgumentException("argument '--ratio' must be in [0, 1), got " + ratio);
        if (!(alpha >= 0 && alpha <= 1)) throw new IllegalArgumentException("argument '--alpha' must be in [0, 1], got " + alpha);
    }
}
