package dev.vtprune.fuzz;

import java.util.Random;

/**
 * One parser under fuzzing. {@link #execute} feeds it one input and checks the contract every
 * parser of the project keeps: either a result whose documented invariants hold (checked here,
 * failing with an AssertionError), or the documented bad-input exception, an
 * IllegalArgumentException with a one-line message, which {@link FuzzLoop} counts as a clean
 * rejection. Anything else that escapes (NullPointerException, ClassCastException,
 * ArithmeticException, UnsupportedOperationException, NumberFormatException, OutOfMemoryError,
 * NegativeArraySizeException, StackOverflowError...) is a finding, as is an input that runs
 * past the time limit or allocates more than {@link #allocationLimit} bytes of heap.
 */
public interface FuzzTarget {
    /** Also the name of its corpus directory, src/test/resources/fuzz/NAME. */
    String name();

    /** Runs the parser on `input`; throws AssertionError when a parse succeeded with a broken invariant. */
    void execute(byte[] input) throws Exception;

    /** A mutant of `base` (`other`: another corpus entry, for splicing); format-aware where possible. */
    byte[] mutate(byte[] base, byte[] other, Random rnd);

    /**
     * Most heap bytes one execution may allocate for an input of `length` bytes: what a valid
     * file of that size can legitimately decode to, with room; a tiny file claiming a huge size
     * must be refused before the allocation, not after.
     */
    long allocationLimit(int length);
}
