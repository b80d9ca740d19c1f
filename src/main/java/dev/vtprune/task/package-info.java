/**
 * The synthetic visual question answering task the project trains and evaluates on: seeded scenes
 * of small objects on clutter drawn with integer arithmetic only (the same pixels on every
 * machine), questions whose one-word answers need one object (colour, shape, count, left/right,
 * presence), the chance level per question type, and the task's word-level tokenizer (written as
 * a Hugging Face {@code tokenizer.json}). Splits are seeds.
 *
 * <p>Uses {@code pipeline} (the tokenizer interface, the chat template); no model code.
 */
package dev.vtprune.task;
