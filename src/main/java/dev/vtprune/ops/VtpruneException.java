package dev.vtprune.ops;

/**
 * A native op failed. The message is the library's own: it names the op and, for bad data the
 * Java checks cannot see cheaply (a NaN score met during the kernel's pass), the argument.
 */
public final class VtpruneException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** The status codes of {@code vtprune.h}. */
    public enum Status {
        INVALID_ARGUMENT(1), UNSUPPORTED(2), CUDA_UNAVAILABLE(3), CUDA(4), OUT_OF_MEMORY(5), INTERNAL(6),
        /** VT_ERR_NONFINITE: finite inputs whose intermediates overflowed (q.k * scale past float32). */
        NONFINITE(7),
        UNKNOWN(-1);

        final int code;

        Status(int code) {
            this.code = code;
        }

        /**
         * Whether the caller's request is at fault (an argument or data value out of contract,
         * overflowing inputs, a request this build or machine cannot serve, inputs too large
         * for its memory) rather than the library: the command line's exit code 2, not 1.
         * CUDA (a failed launch or runtime call), INTERNAL and UNKNOWN are failures of ours.
         */
        public boolean isBadInput() {
            return switch (this) {
                case INVALID_ARGUMENT, NONFINITE, UNSUPPORTED, CUDA_UNAVAILABLE, OUT_OF_MEMORY -> true;
                case CUDA, INTERNAL, UNKNOWN -> false;
            };
        }

        static Status of(int code) {
            for (Status s : values()) {
                if (s.code == code) return s;
            }
            return UNKNOWN;
        }
    }

    private final Status status;

    public VtpruneException(Status status, String message) {
        super(message);
        this.status = status;
    }

    public Status status() {
        return status;
    }
}
