"""One-hidden-layer MLP over frozen whole-video embeddings (the paper's Table 6 classifier)."""

import keras


@keras.saving.register_keras_serializable(package="hse_tf")
class MLPClassifier(keras.Model):
    def __init__(self, num_classes, hidden=512, dropout=0.5, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.hidden, self.dropout_rate = num_classes, hidden, dropout
        self.hidden_layer = keras.layers.Dense(hidden, activation="relu", name="hidden")
        self.dropout = keras.layers.Dropout(dropout)
        self.logits = keras.layers.Dense(num_classes, name="logits")

    def call(self, inputs, training=False):
        return self.logits(self.dropout(self.hidden_layer(inputs), training=training))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "hidden": self.hidden,
                "dropout": self.dropout_rate}
