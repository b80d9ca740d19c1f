package dev.vtprune.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The system Python (/usr/bin/python3, where Debian's python3-torch installs; the pyenv python
 * first on the PATH does not see it) for the checks against tools/reference.
 */
public final class Python {
    private Python() {}

    public static final Path EXE = Path.of("/usr/bin/python3");

    /** Exit code and combined stdout + stderr. */
    public record Result(int code, String output) {}

    /** Whether /usr/bin/python3 can import every one of `modules`. */
    public static boolean canImport(String... modules) {
        if (!Files.isExecutable(EXE)) return false;
        try {
            return run(120, "-c", "import " + String.join(", ", modules)).code() == 0;
        } catch (IOException e) {
            return false;
        }
    }

    /** Runs /usr/bin/python3 with `args` in the working directory; code -1 after `seconds`. */
    public static Result run(long seconds, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(EXE.toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Result(-1, "timed out after " + seconds + " s: " + cmd + "\n" + out);
            }
            return new Result(p.exitValue(), out);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            return new Result(-1, "interrupted: " + cmd);
        }
    }
}
