/* The engine's in-memory model: graphs of nodes over named values, as imported from ONNX.
 * Everything here lives in the model's arena and is immutable after import (and the load-time
 * rewrites in graph/), so plans on several threads may read it without locks. */
#ifndef IG_ENGINE_IR_H
#define IG_ENGINE_IR_H

#include <stdbool.h>
#include <stdint.h>

#include "infergate/tensor.h"

struct ig_kernel_def;
typedef struct ig_graph ig_graph;

/* ONNX AttributeProto.AttributeType values. */
typedef enum ig_attr_type {
    IG_ATTR_UNDEFINED = 0,
    IG_ATTR_FLOAT = 1,
    IG_ATTR_INT = 2,
    IG_ATTR_STRING = 3,
    IG_ATTR_TENSOR = 4,
    IG_ATTR_GRAPH = 5,
    IG_ATTR_FLOATS = 6,
    IG_ATTR_INTS = 7,
    IG_ATTR_STRINGS = 8,
    IG_ATTR_TENSORS = 9,
    IG_ATTR_GRAPHS = 10,
    IG_ATTR_SPARSE_TENSOR = 11,
    IG_ATTR_SPARSE_TENSORS = 12,
    IG_ATTR_TYPE_PROTO = 13,
    IG_ATTR_TYPE_PROTOS = 14,
} ig_attr_type;

typedef struct ig_attr {
    const char *name;
    ig_attr_type type;
    float f;
    int64_t i;
    ig_string s;       /* STRING: arena copy, also NUL-terminated */
    ig_tensor *t;      /* TENSOR (data aligned to its element size) */
    ig_graph *g;       /* GRAPH */
    int n;             /* element count of the list forms */
    float *floats;     /* FLOATS */
    int64_t *ints;     /* INTS */
    ig_string *strings; /* STRINGS */
    ig_tensor **tensors; /* TENSORS */
    ig_graph **graphs;   /* GRAPHS */
} ig_attr;

/* Declared type of a value (ValueInfoProto). ndim -1 means the rank is unknown.
 * A dim is dims[k] >= 0 when fixed; otherwise dim_params[k] names it (or is NULL when unknown). */
typedef struct ig_value_info {
    ig_dtype dtype;
    int ndim;
    int64_t dims[IG_MAX_DIMS];
    const char *dim_params[IG_MAX_DIMS];
    bool is_tensor; /* false for sequence, map, optional and other non-tensor types */
} ig_value_info;

/* A named value of a graph: a graph input, an initializer, or a node output. */
typedef struct ig_value {
    const char *name;
    ig_value_info info;  /* declared type, when the model gives one */
    ig_tensor *constant; /* initializer, or NULL */
    int producer;        /* index of the producing node, or -1 */
    int outer;           /* for subgraphs: index of the same-named value in the parent graph, or -1 */
} ig_value;

typedef struct ig_node {
    const char *name;
    const char *op_type;
    const char *domain; /* "" for the default ai.onnx domain */
    int opset;          /* the model's imported opset for this domain */
    int n_inputs;
    int *inputs; /* value indices; -1 for an omitted optional input */
    int n_outputs;
    int *outputs; /* value indices; -1 for an omitted optional output */
    int n_attrs;
    ig_attr *attrs;
} ig_node;

struct ig_graph {
    const char *name;
    ig_graph *parent; /* enclosing graph for subgraphs, else NULL */
    int n_values;
    ig_value *values;
    int n_nodes;
    ig_node *nodes; /* topologically sorted after import */
    int n_inputs;
    int *inputs; /* value indices of graph inputs that are not initializers */
    int n_outputs;
    int *outputs;
};

typedef struct ig_opset {
    const char *domain;
    int64_t version;
} ig_opset;

/* Attribute lookup by name; NULL when absent. */
const ig_attr *ig_node_attr(const ig_node *n, const char *name);
int64_t ig_node_attr_int(const ig_node *n, const char *name, int64_t dflt);
float ig_node_attr_float(const ig_node *n, const char *name, float dflt);
/* Returns the string as a NUL-terminated arena copy, or dflt. */
const char *ig_node_attr_str(const ig_node *n, const char *name, const char *dflt);
/* INTS attribute: sets *count and returns the array, or NULL (count 0) when absent. */
const int64_t *ig_node_attr_ints(const ig_node *n, const char *name, int *count);
const float *ig_node_attr_floats(const ig_node *n, const char *name, int *count);

/* A name for messages: the node's name, else its first output's name, else its op type. */
const char *ig_node_label(const ig_graph *g, const ig_node *n);

/* Index of a value by name in g (not its parents), or -1. */
int ig_graph_find_value(const ig_graph *g, const char *name);

#endif
