// Package flagembed exports scored records in the formats that encoder fine-tuning tools read:
//
//   - FlagEmbedding: {"query","pos","neg","pos_scores","neg_scores"} per line
//     (knowledge_distillation);
//   - sentence-transformers distillation (DistillKLDivLoss): {"query","pos","neg_1".."neg_n",
//     "label"} with label the teacher score vector over [pos, neg_1..neg_n];
//   - FlagEmbedding's LLM-Embedder (research/llm_embedder): {"query","pos","neg",
//     "teacher_scores","answers","task"} with one teacher score per passage, pos then neg, and
//     the task whose instruction and training settings the loader applies ("qa").
//
// A Split decides which passages are positives: the top N by teacher probability, every
// passage above a probability threshold, or those that contain a gold answer; the rest are
// negatives. Scores are written as log-probabilities by default (both trainers softmax what
// they read, and softmax(log p) = p) or as probabilities. Records that leave no positive or
// too few negatives are skipped and counted by reason, never written half-formed.
package flagembed
