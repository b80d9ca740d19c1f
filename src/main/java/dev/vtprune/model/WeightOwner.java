package dev.vtprune.model;

import dev.vtprune.internal.Closing;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;

/**
 * What every module that owns its weights shares: the weights themselves, handed out read-only
 * by {@link #weights()} and freed once by {@link #close()}, and the closed state its subclass
 * checks ({@code closing.check()}) at the top of every method that reads them. Package-private:
 * the public modules (VisionEncoder, Projector, LanguageModel, ClipTextModel) inherit these two
 * public methods, and this class stays out of the API.
 */
abstract class WeightOwner implements AutoCloseable {
    final Closing closing;
    private final Params params;

    /** @param name what the use-after-close message calls the module: its class's simple name */
    WeightOwner(String name, Params params) {
        this.closing = new Closing(name);
        this.params = params;
    }

    /** The weights by canonical name, HF keys for ClipTextModel (read-only; owned by the module). */
    public final Map<String, Tensor> weights() {
        closing.check();
        return params.view();
    }

    /** Frees every weight; a second call does nothing, and after the first the module's methods throw. */
    @Override
    public final void close() {
        if (!closing.close()) return;
        params.close();
    }
}
