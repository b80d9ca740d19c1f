package dev.vtprune.model;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;

/**
 * The native temporaries of one step of a forward pass (the model's counterpart of the ops'
 * package-private OpScope). Everything JavaCPP allocates while it is open is freed when it
 * closes, except what {@link #keep} marks as a result: results join the caller's own
 * PointerScope when there is one, or else belong to whoever closes them (or to the GC).
 *
 * <p>Only pointers allocated while this scope was the innermost one may be kept: keeping a
 * caller's tensor would release a reference this scope never took.
 *
 * <p>The forward passes open theirs with {@link #noGrad()}, which also holds LibTorch's no-grad
 * mode while open. No-grad rather than InferenceMode: tensors made under InferenceMode are
 * "inference tensors" that may not be updated in place outside it, and the results of these
 * modules (KV caches, probe Q/K) go on to pruning code that runs outside any guard. The guard
 * is thread-local (RAII in C++): the scope must be closed on the thread that opened it, in
 * LIFO order, i.e. by try-with-resources.
 */
final class Scope implements AutoCloseable {
    private final NoGradGuard guard;
    private final PointerScope scope;
    private final List<Pointer> kept = new ArrayList<>();

    /** A scope for temporaries only. */
    Scope() {
        this(false);
    }

    private Scope(boolean noGrad) {
        guard = noGrad ? unscoped(NoGradGuard::new) : null;
        scope = new PointerScope();
    }

    /** A scope that also disables autograd until it closes: the outer scope of a forward pass. */
    static Scope noGrad() {
        return new Scope(true);
    }

    /** Marks a pointer allocated inside this scope as a result that outlives it. */
    <P extends Pointer> P keep(P p) {
        p.retainReference();
        scope.detach(p);
        kept.add(p);
        return p;
    }

    /**
     * Allocates with `make` outside of any caller scope: for weights and other long-lived
     * native memory owned by a Java object (freed by its close(), or by the garbage collector).
     */
    static <P extends Pointer> P unscoped(Supplier<P> make) {
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
        if (guard != null) guard.close();
        PointerScope outer = PointerScope.getInnerScope();
        if (outer != null) {
            for (Pointer p : kept) {
                outer.attach(p);
                p.releaseReference();
            }
        }
    }
}
