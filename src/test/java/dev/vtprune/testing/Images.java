package dev.vtprune.testing;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;

/** Test images. */
public final class Images {
    private Images() {}

    /** w x h px of 12 seeded random coloured ovals on white: structure for the tiler and the ViT, reproducible. */
    public static BufferedImage ovals(int w, int h, long seed) {
        BufferedImage im = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = im.createGraphics();
        java.util.Random r = new java.util.Random(seed);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        for (int i = 0; i < 12; i++) {
            g.setColor(new Color(r.nextInt(0xFFFFFF)));
            g.fillOval(r.nextInt(w), r.nextInt(h), 10 + r.nextInt(w / 2), 10 + r.nextInt(h / 2));
        }
        g.dispose();
        return im;
    }
}
