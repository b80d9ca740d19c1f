package dev.vtprune.cli;

import dev.vtprune.ops.NativeLibrary;
import dev.vtprune.ops.VtpruneException;
import java.io.PrintStream;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * {@code vtprune} — the command line (design §6): JSON on stdout; on bad input one line on
 * stderr and exit code 2 (1 for an internal error), a stack trace only with --verbose.
 */
@Command(name = "vtprune", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Training-free visual-token pruning (PTP, IVTP) for vision-language models.",
        subcommands = {DemoCommand.class, ForwardCommand.class, PruneCommand.class, RolloutCommand.class, GtpCommand.class, FlopsCommand.class,
                TrainCommand.class, EvalCommand.class})
public final class Main implements Runnable {

    @Option(names = "--verbose", scope = ScopeType.INHERIT, description = "Print stack traces with errors.")
    boolean verbose;

    @Option(names = "--threads", scope = ScopeType.INHERIT, paramLabel = "N",
            description = "Threads for the CPU kernels and LibTorch, 1 to 4 x the cores (default: all cores).")
    Integer threads;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required: demo, forward, prune, rollout, gtp, flops, train or eval");
    }

    /** Applies the global options; called by every command first. */
    void setUp() {
        if (threads != null) {
            // More threads than that only oversubscribe the cores, and each costs ~20 ms to start.
            int most = 4 * Runtime.getRuntime().availableProcessors();
            if (threads < 1 || threads > most) {
                throw new IllegalArgumentException("argument '--threads' must be in [1, " + most + "] (4 x the "
                        + Runtime.getRuntime().availableProcessors() + " cores), got " + threads);
            }
            NativeLibrary.setThreads(threads);
            org.bytedeco.pytorch.global.torch.set_num_threads(threads);
        }
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the command line; returns the exit code. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        Main main = new Main();
        CommandLine cmd = new CommandLine(main);
        cmd.setOut(new PrintWriter(out, true));
        cmd.setErr(new PrintWriter(err, true));
        cmd.setParameterExceptionHandler((ex, argv) -> {
            String sub = ex.getCommandLine().getCommandName();
            err.println(sub + ": " + ex.getMessage() + " (see: vtprune " + ("vtprune".equals(sub) ? "" : sub + " ") + "--help)");
            if (main.verbose) ex.printStackTrace(err);
            return 2;
        });
        cmd.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            boolean outOfMemory = isOutOfMemory(ex);
            boolean badInput = exitCode(ex) == 2;
            err.println("vtprune " + commandLine.getCommandName() + ": " + describe(ex)
                    + (outOfMemory ? " (the inputs are too large for this machine's memory)" : ""));
            if (main.verbose) ex.printStackTrace(err);
            else if (!badInput) err.println("(an internal error: run again with --verbose for the stack trace)");
            return badInput ? 2 : 1;
        });
        return cmd.execute(args);
    }

    /**
     * One line: the message without LibTorch's C++ backtrace (its errors append "Exception raised
     * from ..." or "frame #0: ...", a frame per line, kilobytes of it) or its "[enforce fail at
     * file:line] condition." prefix, and with line breaks flattened.
     */
    static String describe(Throwable ex) {
        String m = ex.getMessage();
        if (m == null || m.isBlank()) return ex.getClass().getSimpleName();
        for (String trace : new String[] {"Exception raised from", "frame #0"}) {
            int at = m.indexOf(trace);
            if (at > 0) m = m.substring(0, at);
        }
        m = m.replaceFirst("^\\[enforce fail at [^\\]]*\\]\\s*[^.]*\\.\\s*", "");
        return m.strip().replaceAll("\\s*\n\\s*", " ");
    }

    /**
     * 2 when the input is at fault (an IllegalArgumentException, an unreadable file, an
     * allocation too large for this machine, a {@link VtpruneException} whose status says so:
     * {@link VtpruneException.Status#isBadInput()}), 1 for an internal failure. A native op's
     * error counts wherever it surfaces: as the exception or as the cause of a wrapper (a
     * worker thread's ExecutionException, a loader's RuntimeException).
     */
    static int exitCode(Throwable ex) {
        if (ex instanceof IllegalArgumentException || ex instanceof java.io.UncheckedIOException || isOutOfMemory(ex)) return 2;
        for (Throwable t = ex; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof VtpruneException v) return v.status().isBadInput() ? 2 : 1;
        }
        return 1;
    }

    /** An allocation LibTorch (or the JVM) could not serve: the inputs' size, not a bug. */
    private static boolean isOutOfMemory(Throwable ex) {
        if (ex instanceof OutOfMemoryError) return true;
        String m = ex.getMessage();
        return ex instanceof RuntimeException && m != null && (m.contains("not enough memory") || m.contains("can't allocate memory")
                || m.contains("CUDA out of memory") || m.contains("Failed to allocate"));
    }

    /**
     * The exception with the API's argument names in its message replaced by the command line's
     * (pairs: API name, flag or tensor), so that an error names what the user typed.
     */
    static IllegalArgumentException renamed(IllegalArgumentException e, String... pairs) {
        String m = e.getMessage() == null ? "" : e.getMessage();
        for (int i = 0; i + 1 < pairs.length; i += 2) m = m.replace(pairs[i], pairs[i + 1]);
        return m.equals(e.getMessage()) ? e : new IllegalArgumentException(m, e);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"vtprune " + NativeLibrary.version() + " (CUDA kernels compiled: "
                    + NativeLibrary.cudaCompiled() + ", CUDA devices: " + NativeLibrary.cudaDeviceCount() + ")"};
        }
    }
}
