/*
 * The probe behind README.md: N pipeline requests of the `tiny` preset (112 x 112 image: 4 tiles and
 * the thumbnail), closed the README's way, pointer GC off (run.sh sets it). Usage:
 *   LeakProbe MODE N WHICH
 * MODE: plain (Result closed, nothing else) or scope (each request also inside a PointerScope);
 * a suffix "mi" samples glibc's malloc'd bytes in use (mallinfo2: uordblks + hblkhd) instead of
 * RSS (the printed "rss" figures are then those bytes, in KB). WHICH: alt (unpruned / PTP with
 * the probe reused, alternating, as bench Soak), un, ptp, ptp2 (PTP without reuse).
 * Prints the least-squares slope (KB per request) over the samples after the first tenth.
 */
import dev.vtprune.model.Lvlm;
import dev.vtprune.model.ModelConfig;
import dev.vtprune.model.RandomWeights;
import dev.vtprune.pipeline.*;
import dev.vtprune.pipeline.image.SampleImage;
import dev.vtprune.prune.PyramidTokenPruner;
import java.awt.Image;
import java.awt.image.BufferedImage;
import java.nio.file.*;
import java.util.*;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch.ScalarType;

public class LeakProbe {
    public static class MI extends com.sun.jna.Structure implements com.sun.jna.Structure.ByValue {
        public long arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
        @Override protected List<String> getFieldOrder() { return List.of("arena","ordblks","smblks","hblks","hblkhd","usmblks","fsmblks","uordblks","fordblks","keepcost"); }
    }
    public interface C extends com.sun.jna.Library { C I = com.sun.jna.Native.load("c", C.class); MI mallinfo2(); }
    static long inuse() { MI m = C.I.mallinfo2(); return (m.uordblks + m.hblkhd) / 1024; }
    static long rss() { return Pointer.physicalBytes() / 1024; }
    public static void main(String[] a) throws Exception {
        String mode = a[0]; int n = Integer.parseInt(a[1]); String which = a.length > 2 ? a[2] : "alt";
        dev.vtprune.ops.NativeLibrary.load();
        BufferedImage src = SampleImage.load();
        BufferedImage im = new BufferedImage(112, 112, BufferedImage.TYPE_INT_RGB);
        im.getGraphics().drawImage(src.getScaledInstance(112, 112, Image.SCALE_SMOOTH), 0, 0, null);
        List<BufferedImage> images = List.of(im);
        List<String> prompt = List.of("Where is the red ball?");
        try (Lvlm model = RandomWeights.create(ModelConfig.preset("tiny"), 1, ScalarType.Float)) {
            PromptTemplate t = PromptTemplate.INTERNVL;
            LvlmPipeline p = new LvlmPipeline(model, new ByteTokenizer(model.config().language().vocab(), t.specials()), t);
            LvlmPipeline.Options un = LvlmPipeline.Options.unpruned();
            LvlmPipeline.Options pr = LvlmPipeline.Options.of(new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER)).withReuseProbe(true);
            LvlmPipeline.Options pr2 = LvlmPipeline.Options.of(new PyramidTokenPruner(PyramidTokenPruner.Config.PAPER));
            int every = Math.max(1, n / 50);
            List<long[]> s = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int i = 1; i <= n; i++) {
                LvlmPipeline.Options o = switch (which) { case "un" -> un; case "ptp" -> pr; case "ptp2" -> pr2; default -> i % 2 == 0 ? pr : un; };
                if (mode.startsWith("scope")) {
                    try (PointerScope sc = new PointerScope(); Result r = p.run(images, prompt, o)) { r.logits().numel(); }
                } else {
                    try (Result r = p.run(images, prompt, o)) { r.logits().numel(); }
                }
                if (i % every == 0) s.add(new long[] {i, mode.endsWith("mi") ? inuse() : rss()});
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            List<long[]> st = s.subList(s.size() / 10, s.size());
            double sx=0,sy=0,sxx=0,sxy=0,m=st.size();
            for (long[] x : st) { sx+=x[0]; sy+=x[1]; sxx+=(double)x[0]*x[0]; sxy+=(double)x[0]*x[1]; }
            double slope = (m*sxy-sx*sy)/(m*sxx-sx*sx);
            StringBuilder q = new StringBuilder();
            for (int k = 0; k < 5; k++) { List<long[]> seg = s.subList(k * s.size() / 5, (k + 1) * s.size() / 5);
                q.append(String.format(Locale.ROOT, " %.2f", (seg.get(seg.size()-1)[1] - seg.get(0)[1]) / (double) (seg.get(seg.size()-1)[0] - seg.get(0)[0]))); }
            System.out.println("per-fifth KB/req:" + q);
            System.out.printf(Locale.ROOT, "mode=%s which=%s n=%d %.1fs rss first=%d tenth=%d end=%d KB slope=%.3f KB/req%n",
                mode, which, n, secs, s.get(0)[1], st.get(0)[1], s.get(s.size()-1)[1], slope);
        }
    }
}
