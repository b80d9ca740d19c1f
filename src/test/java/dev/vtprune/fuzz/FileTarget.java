package dev.vtprune.fuzz;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A target whose parser reads a file, as all three do (the CLI hands them paths): each input is
 * written over one scratch file, which {@link #parse} then reads. Holds the name and the file,
 * and the invariant check every target fails with.
 */
abstract class FileTarget implements FuzzTarget {
    private final String name;
    private final Path file;

    /** @param name the target's (and its corpus directory's) name @param file the scratch file each input is written to */
    FileTarget(String name, Path file) {
        this.name = name;
        this.file = file;
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final void execute(byte[] input) throws IOException {
        Files.write(file, input);
        parse(file, input);
    }

    /** Parses `file`, which holds `input`, and checks what it gives ({@link #expect}). */
    abstract void parse(Path file, byte[] input) throws IOException;

    /** A broken invariant of a successful parse: an AssertionError, which FuzzLoop counts as a finding. */
    static void expect(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }
}
