package dev.vtprune.cli;

import dev.vtprune.ops.Rollout;
import dev.vtprune.internal.Tensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vtprune rollout}: IVTP attention rollout of one group of layers. Input tensors
 * {@code attn_0 .. attn_{L-1}} [H, M, M] (layer l1 first; CLS at index 0), optional
 * {@code values} [M, dv] of the last layer. Output: the CLS row of the rollout over the M - 1
 * patch tokens, and IVTP eq. 4 importance.
 */
@Command(name = "rollout", mixinStandardHelpOptions = true,
        description = "Attention rollout (IVTP eq. 3-4) of attn_0..attn_{L-1} in a safetensors file (JSON out).")
final class RolloutCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Option(names = "--input", required = true, paramLabel = "F.safetensors", description = "The input tensors.")
    Path input;

    @Option(names = "--mode", defaultValue = "ivtp", description = "ivtp (first layer without the residual) or abnar. Default: ${DEFAULT-VALUE}.")
    String mode;

    /** The --mode option of rollout and gtp. */
    static Rollout.Mode mode(String mode) {
        switch (mode.toLowerCase(Locale.ROOT)) {
            case "ivtp": return Rollout.Mode.IVTP;
            case "abnar": return Rollout.Mode.ABNAR;
            default: throw new IllegalArgumentException("argument '--mode' must be ivtp or abnar, got '" + mode + "'");
        }
    }

    @Override
    public Integer call() {
        main.setUp();
        Rollout.Mode m = mode(mode);
        try (PointerScope scope = new PointerScope(); InputFile in = InputFile.open(input)) {
            int count = 0;
            while (in.has("attn_" + count)) count++;
            if (count == 0) in.shape("attn_0", 3, "[heads, M, M]");  // reports the missing tensor
            java.util.Set<String> run = new java.util.HashSet<>();
            for (int l = 0; l < count; l++) run.add("attn_" + l);
            for (String name : in.names()) {  // attn_0, attn_2 without attn_1 would silently drop attn_2
                if (name.matches("attn_\\d+") && !run.contains(name)) {
                    throw in.error(name, "is not one of the layers attn_0 .. attn_" + (count - 1) + " (layers are numbered "
                            + "from 0 without gaps)", "a layer after a missing one");
                }
            }
            long[] s0 = in.shape("attn_0", 3, "[heads, M, M]");
            in.atLeast("attn_0", s0, 0, 1, "heads");
            in.atLeast("attn_0", s0, 1, 2, "tokens M (the CLS and at least one patch)");
            for (int l = 0; l < count; l++) {
                long[] s = in.shape("attn_" + l, 3, "[heads, M, M]");
                if (s[0] != s0[0] || s[1] != s0[1] || s[2] != s0[1]) {
                    throw in.error("attn_" + l, "must be [" + s0[0] + ", " + s0[1] + ", " + s0[1] + "] like attn_0",
                            java.util.Arrays.toString(s));
                }
            }
            if (in.has("values")) {
                long[] v = in.shape("values", 2, "[M, value_dim]");
                if (v[0] != s0[1]) throw in.error("values", "must have M = " + s0[1] + " rows", java.util.Arrays.toString(v));
            }
            List<Tensor> layers = new ArrayList<>();
            for (int l = 0; l < count; l++) layers.add(in.probabilities("attn_" + l, 3, "[heads, M, M]"));
            for (int l = 1; l < count; l++) {
                if (Tensors.scalarType(layers.get(l)) != Tensors.scalarType(layers.get(0))) {
                    throw in.error("attn_" + l, "must have the dtype of attn_0", Tensors.describe(layers.get(l)));
                }
            }
            Tensor values = in.has("values") ? in.floating("values", 2, "[M, value_dim]").to(Tensors.scalarType(layers.get(0))) : null;
            try (Rollout.Result r = Rollout.clsRow(layers, m, values)) {
                double[] row = Tensors.toDoubles(r.clsRow());
                main.spec.commandLine().getOut().println(new JsonOut()
                        .put("cls_row", java.util.Arrays.copyOfRange(row, 1, row.length))
                        .put("importance", Tensors.toDoubles(r.importance())));
            }
        }
        return 0;
    }
}
