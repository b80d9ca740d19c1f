package dev.vtprune.io;

import java.util.Arrays;
import java.util.stream.Collectors;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The safetensors element types this library reads and writes, with the LibTorch type each one
 * maps to and its size in bytes. The enum constant's name is the spelling in the file header.
 * Other safetensors types (U16, U32, U64, the F8 variants, ...) have no LibTorch counterpart that
 * the rest of the library uses, so they are rejected with a message that lists these.
 */
public enum SafetensorsDtype {
    F64(ScalarType.Double, 8),
    F32(ScalarType.Float, 4),
    F16(ScalarType.Half, 2),
    BF16(ScalarType.BFloat16, 2),
    I64(ScalarType.Long, 8),
    I32(ScalarType.Int, 4),
    I16(ScalarType.Short, 2),
    I8(ScalarType.Char, 1),
    U8(ScalarType.Byte, 1),
    BOOL(ScalarType.Bool, 1);

    private final ScalarType scalarType;
    private final int elementSize;

    SafetensorsDtype(ScalarType scalarType, int elementSize) {
        this.scalarType = scalarType;
        this.elementSize = elementSize;
    }

    public ScalarType scalarType() {
        return scalarType;
    }

    /** Bytes per element. */
    public int elementSize() {
        return elementSize;
    }

    /** "F64, F32, ..., BOOL": for error messages. */
    static String supportedNames() {
        return Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
    }

    /** The type spelled `name` in a header, or null when it is not one of these. */
    static SafetensorsDtype fromHeaderName(String name) {
        for (SafetensorsDtype d : values()) {
            if (d.name().equals(name)) return d;
        }
        return null;
    }

    /** The type that stores `type`, or null when safetensors (as supported here) cannot. */
    static SafetensorsDtype fromScalarType(ScalarType type) {
        for (SafetensorsDtype d : values()) {
            if (d.scalarType == type) return d;
        }
        return null;
    }
}
