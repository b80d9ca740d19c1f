package dev.vtprune.task;

/**
 * One object of a scene.
 *
 * @param cx     centre column, pixels
 * @param cy     centre row, pixels
 * @param radius half side: the object covers columns cx - radius .. cx + radius and rows likewise
 * @param rgb    its actual fill colour (the palette colour with a small jitter), 0xRRGGBB
 */
public record SceneObject(Shape shape, Colour colour, int cx, int cy, int radius, int rgb) {
    /** Whether this object's bounding box, grown by `gap` pixels, meets the other's. */
    boolean near(SceneObject o, int gap) {
        int reach = radius + o.radius + gap;
        return Math.abs(cx - o.cx) <= reach && Math.abs(cy - o.cy) <= reach;
    }

    /** "red circle" */
    public String words() {
        return colour.word() + " " + shape.word();
    }
}
