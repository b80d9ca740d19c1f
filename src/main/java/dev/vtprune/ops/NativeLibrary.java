package dev.vtprune.ops;

import dev.vtprune.nativelib.VtNative;
import org.bytedeco.javacpp.Loader;

/**
 * Loads {@code libvtprune} (from the jar, through JavaCPP) and turns its status codes into
 * exceptions. CUDA availability is a runtime question that never crashes the JVM: the library
 * links the CUDA runtime statically, and without a driver it simply reports 0 devices.
 */
public final class NativeLibrary {
    private static volatile boolean loaded;
    private static final java.util.concurrent.atomic.AtomicLong CALLS = new java.util.concurrent.atomic.AtomicLong();

    private NativeLibrary() {}

    /** Loads the native library once; throws a clear error if it cannot be loaded. */
    public static void load() {
        if (loaded) return;
        synchronized (NativeLibrary.class) {
            if (loaded) return;
            try {
                Loader.load(VtNative.class);
            } catch (UnsatisfiedLinkError e) {
                throw new IllegalStateException("cannot load libvtprune for platform " + Loader.getPlatform()
                        + " (was the jar built on this platform? a missing vt_* symbol means a libvtprune from"
                        + " another build was found first): " + e.getMessage(), e);
            }
            // The JNI glue was compiled against the same header as these classes, but the
            // libvtprune it links to is whatever the loader found first: refuse another ABI
            // before any op passes it arguments laid out for this one.
            requireAbi(loadedLibraryPath(), VtNative.vt_abi_version());
            loaded = true;
        }
    }

    /**
     * Refuses a library whose {@code vt_abi_version()} is not the {@code VT_ABI_VERSION} these
     * classes were built against.
     *
     * @param library  the library's path, for the message
     * @param reported what its {@code vt_abi_version()} returned
     */
    static void requireAbi(String library, int reported) {
        if (reported != VtNative.VT_ABI_VERSION) {
            throw new IllegalStateException("libvtprune at " + library + " implements C ABI version " + reported
                    + ", but these vtprune classes were built against vtprune.h ABI version " + VtNative.VT_ABI_VERSION
                    + ": the native library comes from another build. Use the libvtprune of the same build as the"
                    + " jar (rebuild with mvn package, or remove the stale library from the library path).");
        }
    }

    /** Where the loader found libvtprune (its name if the path is unknown). */
    private static String loadedLibraryPath() {
        for (java.util.Map.Entry<String, String> e : Loader.getLoadedLibraries().entrySet()) {
            String file = e.getValue() == null ? "" : e.getValue();
            String name = file.substring(file.lastIndexOf('/') + 1);
            if (name.startsWith("libvtprune") || name.startsWith("vtprune")) return file;
        }
        return "libvtprune (path unknown)";
    }

    /** Version string of the native library. */
    public static String version() {
        load();
        return VtNative.vt_version();
    }

    /** Whether this build of libvtprune contains the CUDA kernels. */
    public static boolean cudaCompiled() {
        load();
        return VtNative.vt_cuda_compiled() != 0;
    }

    /** Usable CUDA devices (0 without a CUDA build, a driver or a GPU). */
    public static int cudaDeviceCount() {
        load();
        return VtNative.vt_cuda_device_count();
    }

    /** Threads the CPU kernels use. */
    public static int threads() {
        load();
        int threads = VtNative.vt_get_num_threads();
        if (threads < 1) throw new IllegalStateException("libvtprune: " + VtNative.vt_last_error());
        return threads;
    }

    /** The most threads the CPU kernels run (the native library's bound, vtprune.h). */
    public static final int MAX_THREADS = 256;

    /** Sets the threads the CPU kernels use, 1 to {@link #MAX_THREADS}. */
    public static void setThreads(int threads) {
        if (threads < 1 || threads > MAX_THREADS) {
            throw new IllegalArgumentException(
                    "argument 'threads' must be in [1, " + MAX_THREADS + "], got " + threads);
        }
        load();
        check(VtNative.vt_set_num_threads(threads));
    }

    /**
     * Native op calls made so far in this JVM. Benchmarks and tests use it to prove which
     * backend ran rather than assume it.
     */
    public static long callCount() {
        return CALLS.get();
    }

    /** Throws {@link VtpruneException} with the native last-error text when status != 0. */
    static void check(int status) {
        CALLS.incrementAndGet();
        if (status != VtNative.VT_OK) {
            throw new VtpruneException(VtpruneException.Status.of(status), VtNative.vt_last_error());
        }
    }
}
