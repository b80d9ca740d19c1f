package dev.vtprune.cli;

import dev.vtprune.Vtprune;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.vtprune.io.Safetensors;
import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.ModelConfig.Family;
import dev.vtprune.internal.Tensors;
import dev.vtprune.pipeline.FullForward;
import dev.vtprune.prune.Pruners;
import dev.vtprune.prune.PyramidTokenPruner;
import dev.vtprune.prune.TokenPruner;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vtprune forward}: the model's forward on given inputs, to hold a checkpoint against
 * another implementation (see {@link FullForward} for the contract). The input file holds
 * {@code pixel_values} float32 [T, 3, S, S] and {@code input_ids} int64 [L] with the image-context
 * id where the visual tokens go: InternVL2's {@code <IMG_CONTEXT>} (its id from
 * added_tokens.json or tokenizer_config.json's added_tokens_decoder) once per visual token,
 * LLaVA's {@code <image>} (config.json's image_token_index) once. No text tokenizer is needed.
 */
@Command(name = "forward", mixinStandardHelpOptions = true,
        description = "Run the model on pixel_values and input_ids from a safetensors file; write every output to another.")
final class ForwardCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Option(names = "--model-dir", required = true, paramLabel = "DIR", description = "A Hugging Face checkpoint (config.json + safetensors).")
    Path modelDir;

    @Option(names = "--input", required = true, paramLabel = "F.safetensors", description = "pixel_values [T, 3, S, S] and input_ids [L].")
    Path input;

    @Option(names = "--out", required = true, paramLabel = "G.safetensors",
            description = "Gets vision_features, visual_embeds, logits, hidden_i (and kept when pruned), float32.")
    Path out;

    @Option(names = "--hidden", split = ",", paramLabel = "I", description = "LM hidden states to write, HF hidden_states indices in [0, layers].")
    List<Integer> hidden = List.of();

    @Option(names = "--dtype", defaultValue = "auto",
            description = "auto (the checkpoint's), float32, bfloat16 or float16. Default: ${DEFAULT-VALUE}.")
    String dtype;

    @Option(names = "--method", paramLabel = "M", description = "Prune the visual tokens first: ptp, cls-topk, random or spatial.")
    String method;

    @Mixin
    final PtpOptions ptp = new PtpOptions();

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the random method. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Override
    public Integer call() {
        main.setUp();
        PrintWriter progress = main.spec.commandLine().getErr();
        TokenPruner pruner = pruner();
        Vtprune.Builder builder;
        try {
            builder = Vtprune.builder().modelDir(modelDir).dtype(dtype).progress(progress::println);
        } catch (IllegalArgumentException e) {
            throw DemoCommand.flags(e);
        }
        Path dir = Files.isDirectory(modelDir) ? modelDir : modelDir.toAbsolutePath().getParent();
        try (PointerScope scope = new PointerScope(); InputFile in = InputFile.open(input)) {
            Tensor pixels = in.floating("pixel_values", 4, "[T, 3, S, S]");
            long[] ids = in.integers("input_ids", 1, "[L]");
            try (Lvlm model = loadModel(builder)) {
                int layers = model.config().language().layers();
                int[] states = hidden.stream().mapToInt(Integer::intValue).toArray();
                for (int s : states) {
                    if (s < 0 || s > layers) {
                        throw new IllegalArgumentException("argument '--hidden' must list indices in [0, " + layers
                                + "] (hidden_states of an LM with " + layers + " layers), got " + s);
                    }
                }
                long token = imageToken(dir, model.config());
                Map<String, Tensor> outputs = FullForward.run(model, pixels, ids, token, states, pruner);
                Safetensors.write(out, outputs, Map.of("model", model.config().name(),
                        "image_token_id", Long.toString(token), "dtype", Tensors.dtypeName(model.dtype())));
                JsonOut json = new JsonOut().put("out", out.toString()).put("image_token_id", token)
                        .put("sequence_length", outputs.get("logits").size(0))
                        .put("visual_tokens", outputs.get("visual_embeds").size(0));
                if (outputs.containsKey("kept")) json.put("kept", outputs.get("kept").size(0));
                main.spec.commandLine().getOut().println(json);
            }
        }
        return 0;
    }

    private static Lvlm loadModel(Vtprune.Builder builder) {
        try {
            return builder.loadModel();
        } catch (IllegalArgumentException e) {
            throw DemoCommand.flags(e);
        }
    }

    private TokenPruner pruner() {
        if (method == null) return null;
        if (!List.of("ptp", "cls-topk", "random", "spatial").contains(method)) {
            throw new IllegalArgumentException("argument '--method' must be one of ptp, cls-topk, random, spatial (fastv "
                    + "prunes inside the LM), got '" + method + "'");
        }
        ptp.check();
        return Pruners.byName(method, PyramidTokenPruner.Config.PAPER.withRatio(ptp.ratio).withAlpha(ptp.alpha), seed);
    }

    /**
     * The image-context id: LLaVA's config.json image_token_index (LlavaConfig's default 32000);
     * InternVL2's {@code <IMG_CONTEXT>} from added_tokens.json, else tokenizer_config.json.
     */
    static long imageToken(Path dir, ModelConfig config) {
        if (config.family() == Family.LLAVA) {
            JsonObject c = json(dir.resolve("config.json"));
            for (String key : new String[] {"image_token_index", "image_token_id"}) {
                if (c != null && c.has(key) && !c.get(key).isJsonNull()) return c.get(key).getAsLong();
            }
            return 32000;
        }
        String name = "<IMG_CONTEXT>";
        JsonObject added = json(dir.resolve("added_tokens.json"));
        if (added != null && added.has(name)) return added.get(name).getAsLong();
        JsonObject tc = json(dir.resolve("tokenizer_config.json"));
        JsonElement decoder = tc == null ? null : tc.get("added_tokens_decoder");
        if (decoder != null && decoder.isJsonObject()) {
            for (Map.Entry<String, JsonElement> e : decoder.getAsJsonObject().entrySet()) {
                JsonElement content = e.getValue().isJsonObject() ? e.getValue().getAsJsonObject().get("content") : null;
                if (content != null && name.equals(content.getAsString())) return Long.parseLong(e.getKey());
            }
        }
        throw new IllegalArgumentException("argument '--model-dir': no " + name + " token id in " + dir
                + " (looked in added_tokens.json and tokenizer_config.json's added_tokens_decoder)");
    }

    /** The JSON object in `file`, or null when there is no such file. */
    private static JsonObject json(Path file) {
        if (!Files.isRegularFile(file)) return null;
        try {
            JsonElement e = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8));
            if (!e.isJsonObject()) throw new IllegalArgumentException(file + ": not a JSON object");
            return e.getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        } catch (com.google.gson.JsonParseException | NumberFormatException e) {
            throw new IllegalArgumentException(file + ": not valid JSON (" + e.getMessage() + ")", e);
        }
    }
}
