package dev.vtprune.pipeline;

import dev.vtprune.ops.Args;

/**
 * How one image's tokens and the user's instruction are laid out in the LM sequence:
 * {@code before | visual tokens | between | instruction | after}. The instruction tokens are
 * the queries whose attention decides PTP's instruction relevance.
 */
public record PromptTemplate(String before, String between, String after) {
    public PromptTemplate {
        Args.notNull(before, "before");
        Args.notNull(between, "between");
        Args.notNull(after, "after");
    }

    /** InternVL2's chat layout (its image placeholder tokens stand where the visual tokens go). */
    public static final PromptTemplate INTERNVL = new PromptTemplate("<|im_start|>user\n<img>", "</img>\n",
            "<|im_end|>\n<|im_start|>assistant\n");

    /** LLaVA-1.5's layout (Vicuna v1). */
    public static final PromptTemplate LLAVA = new PromptTemplate("USER: ", "\n", " ASSISTANT:");

    /** The token layout of one image's sequence. */
    public record Layout(long[] ids, int visualStart, int visualCount, int instructionStart, int instructionCount) {
        public int length() {
            return ids.length;
        }

        public long[] visualPositions() {
            long[] p = new long[visualCount];
            for (int i = 0; i < visualCount; i++) p[i] = visualStart + i;
            return p;
        }

        public long[] instructionPositions() {
            long[] p = new long[instructionCount];
            for (int i = 0; i < instructionCount; i++) p[i] = instructionStart + i;
            return p;
        }
    }

    /**
     * The ids of one sequence with `visual` placeholder slots (id 0; their embeddings are replaced
     * by the projected visual tokens), and where everything sits.
     */
    public Layout layout(Tokenizer tokenizer, int visual, String instruction) {
        long[] a = tokenizer.encode(before), b = tokenizer.encode(between), q = tokenizer.encode(instruction),
                c = tokenizer.encode(after);
        long[] ids = new long[a.length + visual + b.length + q.length + c.length];
        int at = 0;
        System.arraycopy(a, 0, ids, at, a.length);
        at += a.length + visual;
        System.arraycopy(b, 0, ids, at, b.length);
        at += b.length;
        int instructionStart = at;
        System.arraycopy(q, 0, ids, at, q.length);
        at += q.length;
        System.arraycopy(c, 0, ids, at, c.length);
        return new Layout(ids, a.length, visual, instructionStart, q.length);
    }
}
