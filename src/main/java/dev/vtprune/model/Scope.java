package dev.vtprune.model;

import dev.vtprune.internal.OpScope;
import java.util.function.Supplier;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.NoGradGuard;

/**
 * The native temporaries of one step of a forward pass: an {@link OpScope} that can also hold
 * LibTorch's no-grad mode.
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
    private final OpScope scope;

    /** A scope for temporaries only. */
    Scope() {
        this(false);
    }

    private Scope(boolean noGrad) {
        guard = noGrad ? unscoped(NoGradGuard::new) : null;
        scope = new OpScope();
    }

    /**
     * A scope that also disables autograd until it closes: the outer scope of a forward pass.
     * Under {@link Training#enable()} it leaves autograd as it is, so a trainer can backpropagate.
     */
    static Scope noGrad() {
        return new Scope(!Training.active());
    }

    /** Marks a pointer allocated inside this scope as a result that outlives it. */
    <P extends Pointer> P keep(P p) {
        return scope.keep(p);
    }

    /**
     * Allocates with `make` outside of any caller scope: for weights and other long-lived
     * native memory owned by a Java object (freed by its close(), or by the garbage collector).
     */
    static <P extends Pointer> P unscoped(Supplier<P> make) {
        return OpScope.unscoped(make);
    }

    @Override
    public void close() {
        scope.close();
        if (guard != null) guard.close();
    }
}
