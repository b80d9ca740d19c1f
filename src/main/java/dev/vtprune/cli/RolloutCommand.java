package dev.vtprune.cli;

import dev.vtprune.ops.Rollout;
import dev.vtprune.ops.Tensors;
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
            List<Tensor> layers = new ArrayList<>();
            for (int l = 0; in.has("attn_" + l); l++) layers.add(in.floating("attn_" + l, 3, "[heads, M, M]"));
            if (layers.isEmpty()) in.floating("attn_0", 3, "[heads, M, M]");  // reports the missing tensor
            long m0 = layers.get(0).size(1);
            for (int l = 0; l < layers.size(); l++) {
                Tensor a = layers.get(l);
                if (a.size(1) != a.size(2) || a.size(1) != m0 || a.size(0) != layers.get(0).size(0)) {
                    throw in.error("attn_" + l, "must be [" + layers.get(0).size(0) + ", " + m0 + ", " + m0 + "] like attn_0",
                            in.shapeOf(a));
                }
            }
            Tensor values = null;
            if (in.has("values")) {
                values = in.floating("values", 2, "[M, value_dim]");
                if (values.size(0) != m0) throw in.error("values", "must have M = " + m0 + " rows", in.shapeOf(values));
                values = values.to(Tensors.scalarType(layers.get(0)));
            }
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
