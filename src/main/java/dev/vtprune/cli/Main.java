package dev.vtprune.cli;

import dev.vtprune.ops.NativeLibrary;
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
        subcommands = {DemoCommand.class, PruneCommand.class, RolloutCommand.class, FlopsCommand.class, TrainCommand.class, EvalCommand.class})
public final class Main implements Runnable {

    @Option(names = "--verbose", scope = ScopeType.INHERIT, description = "Print stack traces with errors.")
    boolean verbose;

    @Option(names = "--threads", scope = ScopeType.INHERIT, paramLabel = "N",
            description = "Threads for the CPU kernels and LibTorch (default: all cores).")
    Integer threads;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required: prune, rollout, flops, demo, train or eval");
    }

    /** Applies the global options; called by every command first. */
    void setUp() {
        if (threads != null) {
            if (threads < 1) throw new IllegalArgumentException("argument '--threads' must be >= 1, got " + threads);
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
            boolean badInput = ex instanceof IllegalArgumentException || ex instanceof java.io.UncheckedIOException;
            err.println("vtprune " + commandLine.getCommandName() + ": " + describe(ex));
            if (main.verbose) ex.printStackTrace(err);
            else if (!badInput) err.println("(an internal error: run again with --verbose for the stack trace)");
            return badInput ? 2 : 1;
        });
        return cmd.execute(args);
    }

    private static String describe(Throwable ex) {
        String m = ex.getMessage();
        return m == null || m.isBlank() ? ex.getClass().getSimpleName() : m.replace('\n', ' ');
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"vtprune " + NativeLibrary.version() + " (CUDA kernels compiled: "
                    + NativeLibrary.cudaCompiled() + ", CUDA devices: " + NativeLibrary.cudaDeviceCount() + ")"};
        }
    }
}
