package dev.vtprune;

/**
 * Receives the answer's tokens as {@link LoadedModel#generate} produces them, on the
 * generating thread, in order: exactly the tokens of {@link Generation#tokens()} (a stop token
 * is not one of them). A listener that throws ends the generation with that exception.
 */
@FunctionalInterface
public interface TokenListener {
    /**
     * @param index the token's place in the answer, from 0
     * @param id    its token id
     * @param piece the text it adds to the answer (possibly empty: a byte of a character that
     *              the next tokens complete)
     */
    void onToken(int index, long id, String piece);

    TokenListener NONE = (index, id, piece) -> {};
}
