package dev.vtprune.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.vtprune.internal.Tensors;
import dev.vtprune.nativelib.VtNative;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/**
 * vtprune.h is the one definition of the status, dtype and enum codes and of the ABI version;
 * Java spells them as constants (switches need compile-time values). This test parses the
 * header and fails on any code Java lacks or spells differently: VtNative, VtpruneException.Status
 * and Tensors.vtDtype.
 */
class VtNativeConstantsTest {
    /** Every {@code VT_NAME = N} enumerator and {@code #define VT_NAME N} of the header. */
    static Map<String, Integer> headerConstants() throws Exception {
        String h = Files.readString(Path.of("src/main/cpp/include/vtprune/vtprune.h"), StandardCharsets.UTF_8);
        h = h.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\n]*", " ");  // comments may quote codes
        Map<String, Integer> out = new LinkedHashMap<>();
        Matcher e = Pattern.compile("\\b(VT_[A-Z0-9_]+)\\s*=\\s*(-?\\d+)").matcher(h);
        while (e.find()) out.put(e.group(1), Integer.parseInt(e.group(2)));
        Matcher d = Pattern.compile("#define\\s+(VT_[A-Z0-9_]+)\\s+(-?\\d+)\\b").matcher(h);
        while (d.find()) out.put(d.group(1), Integer.parseInt(d.group(2)));
        return out;
    }

    @Test
    void everyHeaderCodeIsAVtNativeConstantWithTheSameValue() throws Exception {
        Map<String, Integer> header = headerConstants();
        // The families the header must define (a parse that finds nothing must not pass).
        for (String name : new String[] {"VT_OK", "VT_ERR_INVALID_ARGUMENT", "VT_ERR_NONFINITE", "VT_FLOAT32", "VT_BFLOAT16",
                "VT_REDUCE_MAX", "VT_ROLLOUT_ABNAR", "VT_ABI_VERSION"}) {
            assertTrue(header.containsKey(name), name + " not found in vtprune.h: " + header);
        }
        for (Map.Entry<String, Integer> c : header.entrySet()) {
            Field f;
            try {
                f = VtNative.class.getField(c.getKey());
            } catch (NoSuchFieldException missing) {
                fail("vtprune.h defines " + c.getKey() + " = " + c.getValue() + ", VtNative has no such constant");
                return;
            }
            assertTrue(Modifier.isStatic(f.getModifiers()) && Modifier.isFinal(f.getModifiers()), c.getKey());
            assertEquals(c.getValue().intValue(), f.getInt(null), "VtNative." + c.getKey() + " vs vtprune.h");
        }
        // And no VT_ constant in Java that the header lacks (a stale, removed code).
        for (Field f : VtNative.class.getFields()) {
            if (f.getName().startsWith("VT_")) {
                assertTrue(header.containsKey(f.getName()), "VtNative." + f.getName() + " is not in vtprune.h");
            }
        }
    }

    @Test
    void everyErrorStatusIsAVtpruneExceptionStatus() throws Exception {
        Map<String, Integer> header = headerConstants();
        int errors = 0;
        for (Map.Entry<String, Integer> c : header.entrySet()) {
            if (!c.getKey().startsWith("VT_ERR_")) continue;
            errors++;
            String name = c.getKey().substring("VT_ERR_".length());
            VtpruneException.Status s = VtpruneException.Status.valueOf(name);
            assertEquals(c.getValue().intValue(), s.code, "Status." + name + " vs vtprune.h " + c.getKey());
            assertEquals(s, VtpruneException.Status.of(c.getValue()));
        }
        // Every Status but UNKNOWN is a header code.
        assertEquals(VtpruneException.Status.values().length - 1, errors, "Status has codes vtprune.h lacks");
        assertEquals(VtpruneException.Status.UNKNOWN, VtpruneException.Status.of(header.get("VT_OK")));
    }

    @Test
    void tensorDtypesMapToTheHeaderDtypeCodes() throws Exception {
        Map<String, Integer> header = headerConstants();
        assertEquals(header.get("VT_FLOAT32").intValue(), Tensors.vtDtype(ScalarType.Float));
        assertEquals(header.get("VT_FLOAT16").intValue(), Tensors.vtDtype(ScalarType.Half));
        assertEquals(header.get("VT_BFLOAT16").intValue(), Tensors.vtDtype(ScalarType.BFloat16));
        assertEquals(-1, Tensors.vtDtype(ScalarType.Double));
    }

    /** NativeViews writes vt_tensor at the offsets the header documents (api.cpp static_asserts them). */
    @Test
    void viewLayoutIsTheHeaders() throws Exception {
        String h = Files.readString(Path.of("src/main/cpp/include/vtprune/vtprune.h"), StandardCharsets.UTF_8);
        Map<String, Integer> documented = new LinkedHashMap<>();
        Matcher m = Pattern.compile("offset\\s+(\\d+)\\s+(data|dtype|device|ndim|reserved|shape|strides)\\b").matcher(h);
        while (m.find()) documented.put(m.group(2), Integer.parseInt(m.group(1)));
        Matcher size = Pattern.compile("size (\\d+)\\.").matcher(h.substring(h.indexOf("offset  0  data")));
        assertTrue(size.find(), "vtprune.h documents no size of vt_tensor");
        assertEquals(Integer.parseInt(size.group(1)), NativeViews.TENSOR_BYTES, "sizeof(vt_tensor)");
        assertEquals(Map.of("data", NativeViews.DATA, "dtype", NativeViews.DTYPE, "device", NativeViews.DEVICE, "ndim",
                NativeViews.NDIM, "reserved", NativeViews.RESERVED, "shape", NativeViews.SHAPE, "strides",
                NativeViews.STRIDES), documented);
    }
}
