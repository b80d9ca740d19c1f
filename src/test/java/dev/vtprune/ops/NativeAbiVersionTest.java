package dev.vtprune.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vtprune.nativelib.VtNative;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The version and ABI checks between the Java classes and libvtprune: the loaded library
 * reports the pom's version and the header's ABI, and a library built for another ABI is
 * refused with a message naming it, both versions and the remedy.
 */
class NativeAbiVersionTest {
    static {
        NativeLibrary.load();
    }

    /** The project's own version in pom.xml (surefire runs in the project directory). */
    static String pomVersion() throws IOException {
        String pom = Files.readString(Path.of("pom.xml"), StandardCharsets.UTF_8);
        Matcher m = Pattern.compile("<artifactId>vtprune</artifactId>\\s*<version>([^<]+)</version>").matcher(pom);
        assertTrue(m.find(), "pom.xml has no project version");
        return m.group(1);
    }

    @Test
    void loadedLibraryReportsThePomVersionAndTheHeaderAbi() throws IOException {
        assertEquals(pomVersion(), NativeLibrary.version());
        assertEquals(VtNative.VT_ABI_VERSION, VtNative.vt_abi_version());
    }

    @Test
    void aLibraryBuiltForAnotherAbiIsRefused(@TempDir Path dir) throws Exception {
        // A real shared library, compiled against the real header, that reports the next ABI.
        Path src = dir.resolve("other_abi.c");
        Files.writeString(src, "#include \"vtprune/vtprune.h\"\n"
                + "int32_t vt_abi_version(void) { return VT_ABI_VERSION + 1; }\n");
        Path lib = dir.resolve("libvtprune.so");
        Process cc = new ProcessBuilder("cc", "-shared", "-fPIC", "-I", "src/main/cpp/include", "-o", lib.toString(), src.toString())
                .redirectErrorStream(true).start();
        String ccOut = new String(cc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(cc.waitFor(60, TimeUnit.SECONDS) && cc.exitValue() == 0, "cc failed: " + ccOut);

        // Loaded by path (JNA, on the test classpath through DJL), as the loader would find it.
        int reported = com.sun.jna.NativeLibrary.getInstance(lib.toString())
                .getFunction("vt_abi_version").invokeInt(new Object[0]);
        assertEquals(VtNative.VT_ABI_VERSION + 1, reported);

        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> NativeLibrary.requireAbi(lib.toString(), reported));
        String msg = e.getMessage();
        assertTrue(msg.contains(lib.toString()), msg);
        assertTrue(msg.contains("implements C ABI version " + (VtNative.VT_ABI_VERSION + 1)), msg);
        assertTrue(msg.contains("built against vtprune.h ABI version " + VtNative.VT_ABI_VERSION), msg);
        assertTrue(msg.contains("rebuild"), msg);

        // The real library passes the same check.
        NativeLibrary.requireAbi("libvtprune", VtNative.vt_abi_version());
    }
}
