/* session.h - what a session offers beyond include/taxon.h: the embedding (feature
 * vector) of an image, and the preprocessed input bytes, through the one preprocessing
 * routine. (Candidates for the public header.) */
#ifndef TX_SESSION_H
#define TX_SESSION_H

#include "graph/graph.h"

/* Length of the feature vector tx_embed_file writes (the feature node's h*w*c). */
int tx_session_feature_dim(const tx_session *s);
/* Decodes an image, preprocesses it as the model says, runs the model and writes the
 * output of tx_model_feature_node as float (dequantized when 8-bit) into out
 * (tx_session_feature_dim floats). */
int tx_embed_file(tx_session *s, const char *path, float *out, tx_err *err);
/* The model's input tensor for an image file, [h, w, c] bytes as fed to an 8-bit input
 * (uint8 pixels after resize; int8 inputs get pixel - 128), for checking preprocessing. */
int tx_session_input_bytes(const tx_model *m, const char *path, uint8_t *out, tx_err *err);

#endif
