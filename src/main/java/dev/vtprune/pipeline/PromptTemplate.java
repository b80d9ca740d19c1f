package dev.vtprune.pipeline;

import dev.vtprune.model.ModelConfig;
import dev.vtprune.internal.Args;
import java.util.List;

/**
 * How one image's tokens and the user's instruction are laid out in the LM sequence, as the
 * checkpoint's own chat code builds it: the text {@code before + imageToken + between +
 * instruction + after} is encoded in one call with the tokenizer's special tokens (so that the
 * tokenizer treats segment boundaries as it does for the real prompt), and the image token's one
 * id then stands for every visual token. The instruction tokens are the queries whose attention
 * decides PTP's instruction relevance.
 *
 * @param specials the template's added tokens, for a {@link ByteTokenizer} to keep as single
 *                 tokens when there is no real tokenizer
 */
public record PromptTemplate(String name, String before, String imageToken, String between, String after,
                             List<String> specials) {
    public PromptTemplate {
        Args.notNull(name, "name");
        Args.notNull(before, "before");
        Args.notNull(imageToken, "imageToken");
        Args.notNull(between, "between");
        Args.notNull(after, "after");
        specials = List.copyOf(Args.notNull(specials, "specials"));
        if (imageToken.isEmpty()) throw Args.error("imageToken", "a non-empty token", "''");
    }

    /** InternVL2's system message (InternVLChatModel.system_message of the InternVL2 releases). */
    public static final String INTERNVL2_SYSTEM = "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。";

    /**
     * InternVL2's chat() with one image: its conversation template (internlm2-chat for InternLM2,
     * Hermes-2 for Qwen2: the same MPT-style text) with the system message, the question
     * {@code <image>\n + instruction}, and {@code <image>} replaced by
     * {@code <img><IMG_CONTEXT>...</img>}, one {@code <IMG_CONTEXT>} per visual token.
     */
    public static final PromptTemplate INTERNVL = new PromptTemplate("internvl2-chat",
            "<|im_start|>system\n" + INTERNVL2_SYSTEM + "<|im_end|><|im_start|>user\n<img>", "<IMG_CONTEXT>", "</img>\n",
            "<|im_end|><|im_start|>assistant\n", List.of("<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>"));

    /**
     * llava-1.5-hf's prompt, {@code USER: <image>\n<prompt> ASSISTANT:}; its processor expands the
     * one {@code <image>} token (config.json's image_token_index) to the visual tokens.
     */
    public static final PromptTemplate LLAVA = new PromptTemplate("llava-1.5", "USER: ", "<image>", "\n", " ASSISTANT:",
            List.of("<image>"));

    /** The template of a model family. */
    public static PromptTemplate forFamily(ModelConfig.Family family) {
        return Args.notNull(family, "family") == ModelConfig.Family.LLAVA ? LLAVA : INTERNVL;
    }

    /** The whole prompt text with the image token once (what the tokenizer sees). */
    public String text(String instruction) {
        return before + imageToken + between + instruction + after;
    }

    /** The token layout of one image's sequence; {@code ids} holds the image token's id in every visual slot. */
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
     * The ids of one sequence with `visual` slots for the projected visual tokens (their embeddings
     * replace the image token's), and where everything sits. Instruction tokens are those whose
     * text overlaps the instruction's.
     */
    public Layout layout(Tokenizer tokenizer, int visual, String instruction) {
        Args.notNull(tokenizer, "tokenizer");
        Args.notNull(instruction, "instruction");
        Args.atLeast(visual, "visual", 0);
        if (instruction.contains(imageToken)) {
            throw Args.error("instruction", "text without the image token " + imageToken, instruction);
        }
        long imageId = tokenizer.tokenId(imageToken);
        Encoding e = tokenizer.encode(text(instruction), true);
        int image = -1;
        for (int i = 0; i < e.size(); i++) {
            if (e.ids()[i] != imageId) continue;
            if (image >= 0 || e.start()[i] != before.length()) {
                throw new IllegalStateException("template " + name + ": the image token " + imageToken + " (id " + imageId
                        + ") is not encoded exactly once, at char " + before.length() + ": " + e);
            }
            image = i;
        }
        if (image < 0) {
            throw new IllegalStateException("template " + name + ": the image token " + imageToken + " (id " + imageId
                    + ") did not come out of the tokenizer as one token: " + e);
        }
        long[] ids = new long[e.size() - 1 + visual];
        System.arraycopy(e.ids(), 0, ids, 0, image);
        java.util.Arrays.fill(ids, image, image + visual, imageId);
        System.arraycopy(e.ids(), image + 1, ids, image + visual, e.size() - image - 1);

        int q0 = before.length() + imageToken.length() + between.length(), q1 = q0 + instruction.length();
        int[] q = e.tokensOverlapping(q0, q1);
        int first, count = q.length;
        if (count == 0) {
            first = image + 1;
            while (first < e.size() && e.end()[first] <= q0) first++;
        } else {
            first = q[0];
            if (first <= image || q[count - 1] - first + 1 != count) {
                throw new IllegalStateException("template " + name + ": the instruction's tokens are not one run after the image: " + e);
            }
        }
        return new Layout(ids, image, visual, first - 1 + visual, count);
    }
}
