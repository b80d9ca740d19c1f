package dev.vtprune.internal;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;

/**
 * The native temporaries of one op call (or one step of a forward pass). Everything JavaCPP
 * allocates while it is open is freed when it closes, except what {@link #keep} marks as a
 * result: results leave this scope and join the caller's own PointerScope when there is one
 * (so a caller's scope frees them), or else belong to whoever closes them (or to the garbage
 * collector).
 *
 * <p>Only pointers allocated while this scope was the innermost one may be kept: keeping a
 * caller's tensor would release a reference this scope never took.
 */
public final class OpScope implements AutoCloseable {
    private final PointerScope scope = new PointerScope();
    private final List<Pointer> kept = new ArrayList<>();

    public OpScope() {}

    /** Marks a pointer allocated inside this scope as a result that outlives it. */
    public <P extends Pointer> P keep(P p) {
        p.retainReference();
        scope.detach(p);
        kept.add(p);
        return p;
    }

    /**
     * Allocates with `make` outside of any caller scope: for long-lived native memory owned by
     * a Java object (freed by its close() or by the garbage collector).
     */
    public static <P extends Pointer> P unscoped(java.util.function.Supplier<P> make) {
        try (PointerScope s = new PointerScope()) {
            P p = make.get();
            p.retainReference();
            s.detach(p);
            return p;
        }
    }

    @Override
    public void close() {
        scope.close();
        PointerScope outer = PointerScope.getInnerScope();
        if (outer != null) {
            for (Pointer p : kept) {
                outer.attach(p);
                p.releaseReference();
            }
        }
    }
}
