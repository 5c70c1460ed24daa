"""Models that several pages share.

``build_cnn`` is written out in episode 4, where it is taught; episode 5 imports it from here,
so that it compares transfer learning with episode 4's own network rather than with a new one
(a test keeps the two identical).
"""

from __future__ import annotations

import keras


# The function below is the one episode 4 shows (a test compares the two).
def build_cnn(dropout_rate, dense_units=32, learning_rate=0.001):
    """The three-block CNN with dropout before its dense layers, compiled."""
    inputs = keras.Input(shape=(64, 64, 3))
    x = inputs
    for filters in (8, 16, 32):
        x = keras.layers.Conv2D(filters, kernel_size=3, activation="relu")(x)
        x = keras.layers.MaxPooling2D(pool_size=2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(dropout_rate)(x)
    x = keras.layers.Dense(dense_units, activation="relu")(x)
    outputs = keras.layers.Dense(10)(x)
    model = keras.Model(inputs, outputs, name="cnn_with_dropout")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model
