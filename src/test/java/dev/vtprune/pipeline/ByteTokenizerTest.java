package dev.vtprune.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class ByteTokenizerTest {
    @Test
    void bytesWithTheSpansOfTheirCharacters() {
        ByteTokenizer t = new ByteTokenizer(1000, List.of("<a>", "<ab>"));
        // é is C3 A9, 😀 is F0 9F 98 80 (two Java chars); specials below the bytes, longest first
        Encoding e = t.encode("é<ab>😀", false);
        assertEquals(new Encoding(new long[] {744 + 0xC3, 744 + 0xA9, 742, 744 + 0xF0, 744 + 0x9F, 744 + 0x98, 744 + 0x80},
                new int[] {0, 0, 1, 5, 5, 5, 5}, new int[] {1, 1, 5, 7, 7, 7, 7}), e);
        assertEquals("é<ab>😀", t.decode(e.ids()));
        assertEquals(743, t.tokenId("<a>"));
        assertEquals(744 + 'x', t.tokenId("x"));
        assertThrows(IllegalArgumentException.class, () -> t.tokenId("xy"));
        assertThrows(IllegalArgumentException.class, () -> new ByteTokenizer(257, List.of("<a>", "<b>")));
    }
}
