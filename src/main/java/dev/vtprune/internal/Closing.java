package dev.vtprune.internal;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The closed state of one object that owns native memory. Its owner calls {@link #check()} at
 * the top of every method that reads what close() frees, so that use after close is an
 * {@link IllegalStateException} naming the object rather than freed memory handed out (or a
 * JVM crash in LibTorch); and starts its close() with {@code if (!closing.close()) return;}, so
 * that a second close() (try-with-resources over an object also closed by hand, an owner and
 * its parent both closing it) does nothing.
 *
 * <p>Thread-safe: exactly one of concurrent close() calls wins. It does not make use racing
 * with close safe: closing an object other threads still use stays the caller's error.
 */
public final class Closing {
    private final String name;
    private final AtomicBoolean closed = new AtomicBoolean();

    /** @param name what the messages call the object: its class's simple name, say */
    public Closing(String name) {
        this.name = name;
    }

    /** Throws {@link IllegalStateException} ("TileLayout is closed") once {@link #close()} has run. */
    public void check() {
        if (closed.get()) throw new IllegalStateException(name + " is closed");
    }

    /** Marks the object closed; true only for the first call, whose caller then frees. */
    public boolean close() {
        return closed.compareAndSet(false, true);
    }

    public boolean isClosed() {
        return closed.get();
    }
}
