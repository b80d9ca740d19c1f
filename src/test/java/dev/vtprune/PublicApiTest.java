package dev.vtprune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The public API, listed: every public top-level class of the compiled main classes, package by
 * package, against the allow-list below. A new public package, or a new public class in a listed
 * package (a helper made public to be reached from another package, say), fails here until it is
 * added on purpose, or made package-private, or moved to {@code dev.vtprune.internal}. A class
 * that stops being public must leave the list too, so the list stays the truth.
 *
 * <p>Read from the class files' access flags, not by loading the classes (loading the JavaCPP
 * binding would load the native library).
 */
class PublicApiTest {
    /** What a user should touch: the way in first, then the layers it is built of. */
    static final Map<String, Set<String>> API = Map.ofEntries(
            Map.entry("dev.vtprune", Set.of("Vtprune", "LoadedModel", "GenerationConfig", "Generation", "TokenListener")),
            Map.entry("dev.vtprune.pipeline", Set.of("LvlmPipeline", "Result", "Timings", "PromptTemplate", "Tokenizer", "Encoding",
                    "ByteTokenizer", "HfTokenizer", "SentencePieceTokenizer", "IvtpText", "ClipText", "IvtpDump", "FullForward")),
            Map.entry("dev.vtprune.pipeline.image", Set.of("DynamicTiler", "Preprocessor", "Tiling", "ImageLoader", "Overlay",
                    "SampleImage")),
            Map.entry("dev.vtprune.prune", Set.of("TokenPruner", "Pruners", "PyramidTokenPruner", "IvtpPruner", "PseudoCls",
                    "PruneInputs", "Selection", "ClsTopKPruner", "FastVPruner", "RandomPruner", "SpatialPruner", "IvtpFlops")),
            Map.entry("dev.vtprune.ops", Set.of("Backend", "NativeLibrary", "VtpruneException", "TileLayout", "TextLayout",
                    "RegionBudget", "SegmentedTopK", "Rollout", "TextRelevance", "ClsSaliency", "Reduce")),
            Map.entry("dev.vtprune.model", Set.of("ModelConfig", "Lvlm", "RandomWeights", "ModelLoader", "CheckpointWriter",
                    "VisionEncoder", "Projector", "LanguageModel", "KvCache", "VisionOutput", "Prefill", "Probe", "VitPruning",
                    "LmPruning", "ClipTextModel", "ClipVisualHead", "Flops", "Training")),
            Map.entry("dev.vtprune.io", Set.of("Safetensors", "SafetensorsFile", "SafetensorsCheckpoint", "SafetensorsDtype",
                    "TensorInfo", "TensorSource", "MapTensorSource")),
            Map.entry("dev.vtprune.task", Set.of("VqaTask", "Scene", "SceneObject", "Shape", "Colour", "Question", "Renderer",
                    "Chance", "WordTokenizer", "ClipWords")),
            Map.entry("dev.vtprune.train", Set.of("Trainer", "ClipModel")),
            Map.entry("dev.vtprune.eval", Set.of("Evaluator", "Accuracy", "AccuracyPlot")),
            Map.entry("dev.vtprune.cli", Set.of("Main")));

    /**
     * Public because Java needs it, not for users: the cross-package helpers (say so in their
     * package-info) and the JavaCPP binding, whose generated JNI code needs a public class.
     */
    static final Map<String, Set<String>> NOT_API = Map.of(
            "dev.vtprune.internal", Set.of("Args", "Closing", "OpScope", "Tensors"),
            "dev.vtprune.nativelib", Set.of("VtNative"));

    @Test
    void thePublicClassesAreExactlyTheListedOnes() throws IOException {
        Map<String, Set<String>> found = publicTopLevelClasses(classesRoot());
        assertTrue(found.containsKey("dev.vtprune") && found.get("dev.vtprune").contains("Vtprune"),
                "the scan sees the compiled classes: " + found);
        Map<String, Set<String>> listed = new TreeMap<>(API);
        listed.putAll(NOT_API);
        List<String> problems = new ArrayList<>();
        for (var e : found.entrySet()) {
            Set<String> allowed = listed.get(e.getKey());
            if (allowed == null) {
                problems.add("new public package " + e.getKey() + " " + e.getValue() + ": list it in PublicApiTest if users "
                        + "should touch it, else make its classes package-private");
                continue;
            }
            Set<String> extra = new TreeSet<>(e.getValue());
            extra.removeAll(allowed);
            if (!extra.isEmpty()) {
                problems.add(e.getKey() + ": public but not listed " + extra + " (an API class: list it; a helper: make it "
                        + "package-private or move it to dev.vtprune.internal)");
            }
        }
        for (var e : listed.entrySet()) {
            Set<String> gone = new TreeSet<>(e.getValue());
            gone.removeAll(found.getOrDefault(e.getKey(), Set.of()));
            if (!gone.isEmpty()) problems.add(e.getKey() + ": listed but not public (or gone) " + gone + ": drop them from the list");
        }
        assertEquals(List.of(), problems, "the public API changed");
    }

    /** The folder holding the main classes (target/classes), found through this project's own class. */
    private static Path classesRoot() {
        try {
            return Path.of(Vtprune.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Package -> simple names of its public top-level classes (nested and package-info skipped). */
    static Map<String, Set<String>> publicTopLevelClasses(Path root) throws IOException {
        Map<String, Set<String>> out = new TreeMap<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                String rel = root.relativize(p).toString().replace(p.getFileSystem().getSeparator(), "/");
                if (!rel.endsWith(".class") || rel.contains("$") || rel.endsWith("package-info.class")
                        || rel.endsWith("module-info.class")) {
                    continue;
                }
                if (!isPublic(Files.readAllBytes(p))) continue;
                String name = rel.substring(0, rel.length() - ".class".length()).replace('/', '.');
                int dot = name.lastIndexOf('.');
                out.computeIfAbsent(name.substring(0, dot), k -> new TreeSet<>()).add(name.substring(dot + 1));
            }
        }
        return out;
    }

    /** ACC_PUBLIC of a class file: its access flags follow the constant pool, which has to be walked. */
    private static boolean isPublic(byte[] classFile) throws IOException {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(classFile));
        if (in.readInt() != 0xCAFEBABE) throw new IOException("not a class file");
        in.readUnsignedShort();  // minor
        in.readUnsignedShort();  // major
        int count = in.readUnsignedShort();
        for (int i = 1; i < count; i++) {
            int tag = in.readUnsignedByte();
            switch (tag) {
                case 1 -> in.skipBytes(in.readUnsignedShort());          // Utf8
                case 7, 8, 16, 19, 20 -> in.skipBytes(2);                // Class, String, MethodType, Module, Package
                case 15 -> in.skipBytes(3);                              // MethodHandle
                case 3, 4, 9, 10, 11, 12, 17, 18 -> in.skipBytes(4);     // Integer, Float, refs, NameAndType, (Invoke)Dynamic
                case 5, 6 -> {                                           // Long, Double take two slots
                    in.skipBytes(8);
                    i++;
                }
                default -> throw new IOException("constant pool tag " + tag);
            }
        }
        return (in.readUnsignedShort() & 0x0001) != 0;
    }
}
