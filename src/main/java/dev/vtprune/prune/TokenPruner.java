package dev.vtprune.prune;

/** A training-free visual-token pruning method: scores the tokens of a batch and keeps some. */
public interface TokenPruner {
    /** Short name, as on the command line ("ptp", "cls-topk", ...). */
    String name();

    /** Fraction of visual tokens dropped, in [0, 1). */
    double ratio();

    /**
     * Selects the tokens to keep. Each method reads the inputs it needs and reports a missing
     * one as an IllegalArgumentException naming it.
     */
    Selection select(PruneInputs inputs);
}
