package dev.vtprune.testing;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.function.Executable;

/** The closed-state contract of an object that owns native memory. */
public final class Closed {
    private Closed() {}

    /**
     * Closes `object` twice (the second close must do nothing), then runs each use: every one
     * must throw IllegalStateException "NAME is closed" (rather than read freed memory).
     */
    public static void assertGuarded(AutoCloseable object, String name, Executable... uses) {
        assertDoesNotThrow(object::close, name + ": first close");
        assertDoesNotThrow(object::close, name + ": second close");
        for (int i = 0; i < uses.length; i++) {
            IllegalStateException e = assertThrows(IllegalStateException.class, uses[i], name + ": use " + i + " after close");
            assertEquals(name + " is closed", e.getMessage());
        }
    }
}
