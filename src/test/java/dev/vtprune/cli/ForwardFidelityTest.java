package dev.vtprune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.vtprune.testing.Python;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vtprune forward} against the independent PyTorch reference of tools/reference: random
 * InternVL2-1B-, InternVL2-2B- and LLaVA-1.5-like checkpoints in the real HF layouts (see
 * fidelity.py), every output compared within 1e-4 x max(1, max|ref|) in float32. Needs
 * Debian's python3-torch as /usr/bin/python3 (what .ci/run installs); skipped without it.
 */
class ForwardFidelityTest {
    static final String SCRIPT = "tools/reference/fidelity.py";

    @TempDir
    Path dir;

    @Test
    void everyArchitectureMatchesThePyTorchReference() throws Exception {
        assumeTrue(Python.canImport("torch"), "PyTorch reference skipped: /usr/bin/python3 cannot import torch. To run it: "
                + "apt-get install -y --no-install-recommends python3-torch, then mvn test (or .ci/run); standalone: "
                + "/usr/bin/python3 tools/reference/fidelity.py run");
        Python.Result make = Python.run(300, SCRIPT, "make", dir.toString());
        assertEquals(0, make.code(), make.output());
        JsonArray cases = JsonParser.parseString(Files.readString(dir.resolve("cases.json"))).getAsJsonArray();
        assertEquals(7, cases.size());
        for (JsonElement e : cases) {
            JsonObject c = e.getAsJsonObject();
            List<String> args = new ArrayList<>(List.of("forward", "--model-dir", c.get("dir").getAsString(),
                    "--input", c.get("input").getAsString(), "--out", c.get("java").getAsString(),
                    "--hidden", c.get("hidden").getAsString()));
            for (JsonElement a : c.getAsJsonArray("args")) args.add(a.getAsString());
            CliTest.Run r = CliTest.run(args.toArray(new String[0]));
            assertEquals(0, r.code(), c.get("name").getAsString() + ": " + r.err());
        }
        Python.Result compare = Python.run(300, SCRIPT, "compare", dir.toString());
        System.out.println(compare.output());
        assertEquals(0, compare.code(), compare.output());
    }
}
