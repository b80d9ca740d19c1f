package dev.vtprune.io;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Moves bytes between a file and native memory (a tensor's storage) without a Java heap copy.
 * A NIO buffer holds at most 2^31 - 1 bytes while one tensor of a large model may exceed 2 GB,
 * so memory is viewed through buffers of at most `chunkBytes` each; file positions are longs.
 */
final class ChunkedIo {
    private ChunkedIo() {}

    /** 1 GiB: few system calls per tensor, well below the 2 GB limit of a NIO buffer. */
    static final int DEFAULT_CHUNK_BYTES = 1 << 30;

    /** Reads `n` bytes at file `position` into the memory at `dst`. */
    static void read(FileChannel ch, long position, Pointer dst, long n, int chunkBytes) throws IOException {
        BytePointer base = new BytePointer(dst);
        for (long off = 0; off < n; off += chunkBytes) {
            int len = (int) Math.min(chunkBytes, n - off);
            readFully(ch, base.getPointer(off).capacity(len).asByteBuffer(), position + off);
        }
    }

    /** Appends the `n` bytes at `src` to the channel at its current position. */
    static void write(FileChannel ch, Pointer src, long n, int chunkBytes) throws IOException {
        BytePointer base = new BytePointer(src);
        for (long off = 0; off < n; off += chunkBytes) {
            int len = (int) Math.min(chunkBytes, n - off);
            writeFully(ch, base.getPointer(off).capacity(len).asByteBuffer());
        }
    }

    /** Fills the rest of `buf` from file `position` on; a file that ends first is an EOFException. */
    static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long at = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, at);
            if (n < 0) {
                throw new EOFException("the file ends at byte " + at + ", " + buf.remaining()
                        + " bytes short of what its header promises (was it truncated after opening?)");
            }
            at += n;
        }
    }

    static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) ch.write(buf);
    }
}
