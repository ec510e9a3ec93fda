// The part of the TensorFlow Lite C ABI that the onexn delegate uses, declared by hand.
//
// No TFLite headers ship with the ai_edge_litert / tensorflow wheels, so these declarations were
// written from the public API documentation of tensorflow/lite/core/c/common.h, c_api_types.h,
// builtin_ops.h and builtin_op_data.h (TF 2.21 / LiteRT 2.3 era). Only what the delegate reads or
// writes is declared; every struct keeps the runtime's field order because the runtime and the
// delegate exchange them by pointer (and TfLiteRegistration by value).
//
// tests/test_abi.py proves these layouts against both installed runtimes (tf.lite 2.21 and
// ai_edge_litert 2.3) through the abi_probe option of the testing library (src/testing/); the static
// asserts at the end pin the LP64 offsets that those tests checked.
#ifndef ONEXN_TFLITE_ABI_H_
#define ONEXN_TFLITE_ABI_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- c_api_types.h ----

typedef enum TfLiteStatus {
  kTfLiteOk = 0,
  kTfLiteError = 1,
  kTfLiteDelegateError = 2,
  kTfLiteApplicationError = 3,
  kTfLiteDelegateDataNotFound = 4,
  kTfLiteDelegateDataWriteError = 5,
  kTfLiteDelegateDataReadError = 6,
  kTfLiteUnresolvedOps = 7,
  kTfLiteCancelled = 8,
} TfLiteStatus;

typedef enum {
  kTfLiteNoType = 0,
  kTfLiteFloat32 = 1,
  kTfLiteInt32 = 2,
  kTfLiteUInt8 = 3,
  kTfLiteInt64 = 4,
  kTfLiteString = 5,
  kTfLiteBool = 6,
  kTfLiteInt16 = 7,
  kTfLiteComplex64 = 8,
  kTfLiteInt8 = 9,
  kTfLiteFloat16 = 10,
  kTfLiteFloat64 = 11,
  kTfLiteComplex128 = 12,
  kTfLiteUInt64 = 13,
  kTfLiteResource = 14,
  kTfLiteVariant = 15,
  kTfLiteUInt32 = 16,
  kTfLiteUInt16 = 17,
  kTfLiteInt4 = 18,
} TfLiteType;

typedef struct TfLiteQuantizationParams {
  float scale;
  int32_t zero_point;
} TfLiteQuantizationParams;

// ---- common.h ----

struct TfLiteContext;
struct TfLiteDelegate;
struct TfLiteRegistration;

// Marks an absent optional input (e.g. no bias) in TfLiteNode::inputs.
#define kTfLiteOptionalTensor (-1)

// Fixed-size int list: tensor shapes and node input/output tensor indices.
typedef struct TfLiteIntArray {
  int size;
  int data[];
} TfLiteIntArray;

typedef union TfLitePtrUnion {
  float* f;
  char* raw;
  const char* raw_const;
  void* data;
} TfLitePtrUnion;

typedef enum TfLiteAllocationType {
  kTfLiteMemNone = 0,
  kTfLiteMmapRo = 1,  // read-only, memory-mapped from the model: constant weights
  kTfLiteArenaRw = 2,
  kTfLiteArenaRwPersistent = 3,
  kTfLiteDynamic = 4,
  kTfLitePersistentRo = 5,  // filled during Prepare (e.g. DENSIFY output)
  kTfLiteCustom = 6,
  kTfLiteVariantObject = 7,
  kTfLiteNonCpu = 8,
} TfLiteAllocationType;

typedef int TfLiteBufferHandle;

typedef enum TfLiteQuantizationType {
  kTfLiteNoQuantization = 0,
  kTfLiteAffineQuantization = 1,
} TfLiteQuantizationType;

typedef struct TfLiteQuantization {
  TfLiteQuantizationType type;
  void* params;  // TfLiteAffineQuantization* for kTfLiteAffineQuantization
} TfLiteQuantization;

typedef struct TfLiteFloatArray {
  int size;
  float data[];
} TfLiteFloatArray;

// Affine quantization, real = scale * (q - zero_point): one scale and zero point, or one per index of
// quantized_dimension (a per-channel weight).
typedef struct TfLiteAffineQuantization {
  TfLiteFloatArray* scale;
  TfLiteIntArray* zero_point;
  int32_t quantized_dimension;
} TfLiteAffineQuantization;

typedef enum TfLiteDimensionType {
  kTfLiteDimDense = 0,
  kTfLiteDimSparseCSR = 1,
} TfLiteDimensionType;

// One dimension of a sparse tensor (schema.fbs DimensionMetadata). The runtime converts the model's
// uint8/uint16/int32 segment and index vectors into TfLiteIntArrays.
typedef struct TfLiteDimensionMetadata {
  TfLiteDimensionType format;
  int dense_size;
  TfLiteIntArray* array_segments;
  TfLiteIntArray* array_indices;
} TfLiteDimensionMetadata;

// schema.fbs SparsityParameters of a constant tensor (e.g. the input of a DENSIFY operator).
typedef struct TfLiteSparsity {
  TfLiteIntArray* traversal_order;
  TfLiteIntArray* block_map;
  TfLiteDimensionMetadata* dim_metadata;
  int dim_metadata_size;
} TfLiteSparsity;

typedef struct TfLiteTensor {
  TfLiteType type;
  TfLitePtrUnion data;
  TfLiteIntArray* dims;
  TfLiteQuantizationParams params;
  TfLiteAllocationType allocation_type;
  size_t bytes;
  const void* allocation;
  const char* name;
  struct TfLiteDelegate* delegate;
  TfLiteBufferHandle buffer_handle;
  bool data_is_stale;
  bool is_variable;
  TfLiteQuantization quantization;
  TfLiteSparsity* sparsity;  // NULL for dense tensors
  const TfLiteIntArray* dims_signature;
} TfLiteTensor;

typedef struct TfLiteNode {
  TfLiteIntArray* inputs;
  TfLiteIntArray* outputs;
  TfLiteIntArray* intermediates;
  TfLiteIntArray* temporaries;
  void* user_data;     // what TfLiteRegistration::init returned
  void* builtin_data;  // e.g. TfLiteConvParams*; TfLiteDelegateParams* for a delegate kernel node
  const void* custom_initial_data;
  int custom_initial_data_size;
  struct TfLiteDelegate* delegate;  // non-NULL only on delegate kernel nodes
  bool might_have_side_effect;
} TfLiteNode;

// builtin_data of a delegate kernel node.
typedef struct TfLiteDelegateParams {
  struct TfLiteDelegate* delegate;
  TfLiteIntArray* nodes_to_replace;
  TfLiteIntArray* input_tensors;
  TfLiteIntArray* output_tensors;
} TfLiteDelegateParams;

typedef struct TfLiteContext {
  size_t tensors_size;
  TfLiteStatus (*GetExecutionPlan)(struct TfLiteContext* context, TfLiteIntArray** execution_plan);
  TfLiteTensor* tensors;
  void* impl_;
  // Takes ownership of new_size, which must come from malloc (the runtime frees it with free()).
  TfLiteStatus (*ResizeTensor)(struct TfLiteContext*, TfLiteTensor* tensor, TfLiteIntArray* new_size);
  void (*ReportError)(struct TfLiteContext*, const char* msg, ...);
  TfLiteStatus (*AddTensors)(struct TfLiteContext*, int tensors_to_add, int* first_new_tensor_index);
  TfLiteStatus (*GetNodeAndRegistration)(struct TfLiteContext*, int node_index, TfLiteNode** node,
                                         struct TfLiteRegistration** registration);
  TfLiteStatus (*ReplaceNodeSubsetsWithDelegateKernels)(struct TfLiteContext*,
                                                        struct TfLiteRegistration registration,
                                                        const TfLiteIntArray* nodes_to_replace,
                                                        struct TfLiteDelegate* delegate);
  int recommended_num_threads;  // the interpreter's num_threads; -1 when unset
  void* (*GetExternalContext)(struct TfLiteContext*, int type);
  void (*SetExternalContext)(struct TfLiteContext*, int type, void* external_context);
  bool allow_fp32_relax_to_fp16;
  void* profiler;
  void* (*AllocatePersistentBuffer)(struct TfLiteContext* ctx, size_t bytes);
  TfLiteStatus (*AllocateBufferForEval)(struct TfLiteContext* ctx, size_t bytes, void** ptr);
  TfLiteStatus (*RequestScratchBufferInArena)(struct TfLiteContext* ctx, size_t bytes, int* buffer_idx);
  void* (*GetScratchBuffer)(struct TfLiteContext* ctx, int buffer_idx);
  // NULL in the TFLite runtimes (a TFLM function); declared for the layout only.
  TfLiteStatus (*ResizeTensorExplicit)(struct TfLiteContext* ctx, TfLiteTensor* tensor, int dims,
                                       const int* shape);
  TfLiteStatus (*PreviewDelegatePartitioning)(struct TfLiteContext* context,
                                              const TfLiteIntArray* nodes_to_replace,
                                              TfLiteDelegateParams** partition_params_array,
                                              int* num_partitions);
  TfLiteTensor* (*GetTensor)(const struct TfLiteContext* context, int tensor_idx);
  void* (*GetEvalTensor)(const struct TfLiteContext* context, int tensor_idx);
  // Finds the model's metadata entry `name`; the buffer lives as long as the interpreter.
  TfLiteStatus (*GetModelMetadata)(const struct TfLiteContext* context, const char* name,
                                   const char** ptr, size_t* bytes);
} TfLiteContext;

// The runtime copies this struct (passed by value) field for field, so it must have exactly the
// runtime's current size: it grew from 64 bytes (V1) to 88 (registration_external, async_kernel,
// inplace_operator).
typedef struct TfLiteRegistration {
  void* (*init)(TfLiteContext* context, const char* buffer, size_t length);
  void (*free)(TfLiteContext* context, void* buffer);
  TfLiteStatus (*prepare)(TfLiteContext* context, TfLiteNode* node);
  TfLiteStatus (*invoke)(TfLiteContext* context, TfLiteNode* node);
  const char* (*profiling_string)(const TfLiteContext* context, const TfLiteNode* node);
  int32_t builtin_code;
  const char* custom_name;
  int version;
  void* registration_external;  // TfLiteOperator*; NULL for us
  void* (*async_kernel)(TfLiteContext* context, TfLiteNode* node);  // NULL: no async execution
  uint64_t inplace_operator;  // kTfLiteInplaceOpNone
} TfLiteRegistration;

typedef enum TfLiteDelegateFlags {
  kTfLiteDelegateFlagsNone = 0,
  kTfLiteDelegateFlagsAllowDynamicTensors = 1,
} TfLiteDelegateFlags;

typedef struct TfLiteDelegate {
  void* data_;
  TfLiteStatus (*Prepare)(TfLiteContext* context, struct TfLiteDelegate* delegate);
  TfLiteStatus (*CopyFromBufferHandle)(TfLiteContext* context, struct TfLiteDelegate* delegate,
                                       TfLiteBufferHandle buffer_handle, TfLiteTensor* tensor);
  TfLiteStatus (*CopyToBufferHandle)(TfLiteContext* context, struct TfLiteDelegate* delegate,
                                     TfLiteBufferHandle buffer_handle, TfLiteTensor* tensor);
  void (*FreeBufferHandle)(TfLiteContext* context, struct TfLiteDelegate* delegate,
                           TfLiteBufferHandle* handle);
  int64_t flags;
  void* opaque_delegate_builder;  // must be NULL so that the runtime calls Prepare above
} TfLiteDelegate;

// ---- builtin_ops.h (the codes of schema.fbs BuiltinOperator) ----

typedef enum {
  kTfLiteBuiltinAdd = 0,
  kTfLiteBuiltinAveragePool2d = 1,
  kTfLiteBuiltinConcatenation = 2,
  kTfLiteBuiltinConv2d = 3,
  kTfLiteBuiltinDepthwiseConv2d = 4,
  kTfLiteBuiltinFullyConnected = 9,
  kTfLiteBuiltinMaxPool2d = 17,
  kTfLiteBuiltinReshape = 22,
  kTfLiteBuiltinSoftmax = 25,
  kTfLiteBuiltinPad = 34,
  kTfLiteBuiltinMean = 40,
  kTfLiteBuiltinDelegate = 51,
  kTfLiteBuiltinPadv2 = 60,
  kTfLiteBuiltinDensify = 124,
} TfLiteBuiltinOperator;

// ---- builtin_op_data.h ----

typedef enum {
  kTfLitePaddingUnknown = 0,
  kTfLitePaddingSame = 1,
  kTfLitePaddingValid = 2,
} TfLitePadding;

typedef enum {
  kTfLiteActNone = 0,
  kTfLiteActRelu = 1,
  kTfLiteActReluN1To1 = 2,
  kTfLiteActRelu6 = 3,
  kTfLiteActTanh = 4,
  kTfLiteActSignBit = 5,
  kTfLiteActSigmoid = 6,
} TfLiteFusedActivation;

// The runtime's struct may have more fields at the end (quantized_bias_type in newer versions);
// the delegate only reads, so declaring a prefix is enough.
typedef struct {
  TfLitePadding padding;
  int stride_width;
  int stride_height;
  TfLiteFusedActivation activation;
  int dilation_width_factor;
  int dilation_height_factor;
} TfLiteConvParams;

typedef struct {
  TfLitePadding padding;
  int stride_width;
  int stride_height;
  int depth_multiplier;  // informational: the filter's shape is authoritative
  TfLiteFusedActivation activation;
  int dilation_width_factor;
  int dilation_height_factor;
} TfLiteDepthwiseConvParams;

typedef struct {
  TfLiteFusedActivation activation;
  bool pot_scale_int16;  // int16 only
} TfLiteAddParams;

typedef struct {
  bool keep_dims;
} TfLiteReducerParams;

typedef struct {
  int width;
  int height;
  int width_offset;
  int height_offset;
} TfLitePaddingValues;

// MAX_POOL_2D, AVERAGE_POOL_2D. `computed` is the kernel's own scratch: the delegate computes padding itself.
typedef struct {
  TfLitePadding padding;
  int stride_width;
  int stride_height;
  int filter_width;
  int filter_height;
  TfLiteFusedActivation activation;
  struct {
    TfLitePaddingValues padding;
  } computed;
} TfLitePoolParams;

typedef struct {
  float beta;
} TfLiteSoftmaxParams;

typedef struct {
  int axis;
  TfLiteFusedActivation activation;
} TfLiteConcatenationParams;

// The new shape of models without a shape input (older converters); the shape input wins when present.
#define TFLITE_RESHAPE_PARAMS_MAX_DIMENSION_COUNT 8
typedef struct {
  int32_t shape[TFLITE_RESHAPE_PARAMS_MAX_DIMENSION_COUNT];
  int num_dimensions;
} TfLiteReshapeParams;

typedef enum {
  kTfLiteFullyConnectedWeightsFormatDefault = 0,
  kTfLiteFullyConnectedWeightsFormatShuffled4x16Int8 = 1,
} TfLiteFullyConnectedWeightsFormat;

typedef struct {
  TfLiteFusedActivation activation;
  TfLiteFullyConnectedWeightsFormat weights_format;
  bool keep_num_dims;
  bool asymmetric_quantize_inputs;
} TfLiteFullyConnectedParams;

#ifdef __cplusplus
}  // extern "C"
#endif

// The LP64 layout proven by tests/test_abi.py (x86-64 and aarch64 Linux/Android).
#if defined(__LP64__) || defined(_LP64)
#ifdef __cplusplus
#define ONEXN_ABI_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define ONEXN_ABI_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
ONEXN_ABI_ASSERT(sizeof(TfLiteIntArray) == 4, "TfLiteIntArray");
ONEXN_ABI_ASSERT(offsetof(TfLiteTensor, data) == 8, "TfLiteTensor.data");
ONEXN_ABI_ASSERT(offsetof(TfLiteTensor, dims) == 16, "TfLiteTensor.dims");
ONEXN_ABI_ASSERT(offsetof(TfLiteTensor, params) == 24, "TfLiteTensor.params");
ONEXN_ABI_ASSERT(offsetof(TfLiteTensor, allocation_type) == 32, "TfLiteTensor.allocation_type");
ONEXN_ABI_ASSERT(offsetof(TfLiteTensor, bytes) == 40, "TfLiteTensor.bytes");
ONEXN_ABI_ASSERT(offsetof(TfLiteTensor, name) == 56, "TfLiteTensor.name");
ONEXN_ABI_ASSERT(offsetof(TfLiteTensor, quantization) == 80, "TfLiteTensor.quantization");
ONEXN_ABI_ASSERT(offsetof(TfLiteTensor, sparsity) == 96, "TfLiteTensor.sparsity");
ONEXN_ABI_ASSERT(offsetof(TfLiteAffineQuantization, quantized_dimension) == 16, "quantized_dimension");
ONEXN_ABI_ASSERT(sizeof(TfLiteTensor) == 112, "TfLiteTensor (context->tensors is an array of them)");
ONEXN_ABI_ASSERT(offsetof(TfLiteNode, builtin_data) == 40, "TfLiteNode.builtin_data");
ONEXN_ABI_ASSERT(offsetof(TfLiteNode, delegate) == 64, "TfLiteNode.delegate");
ONEXN_ABI_ASSERT(sizeof(TfLiteNode) == 80, "TfLiteNode");
ONEXN_ABI_ASSERT(offsetof(TfLiteContext, recommended_num_threads) == 72, "recommended_num_threads");
ONEXN_ABI_ASSERT(offsetof(TfLiteContext, ResizeTensorExplicit) == 144, "ResizeTensorExplicit");
ONEXN_ABI_ASSERT(offsetof(TfLiteContext, GetModelMetadata) == 176, "GetModelMetadata");
ONEXN_ABI_ASSERT(offsetof(TfLiteRegistration, builtin_code) == 40, "TfLiteRegistration.builtin_code");
ONEXN_ABI_ASSERT(offsetof(TfLiteRegistration, inplace_operator) == 80, "inplace_operator");
ONEXN_ABI_ASSERT(sizeof(TfLiteRegistration) == 88, "TfLiteRegistration (passed by value)");
ONEXN_ABI_ASSERT(offsetof(TfLiteDelegate, flags) == 40, "TfLiteDelegate.flags");
ONEXN_ABI_ASSERT(sizeof(TfLiteDelegate) == 56, "TfLiteDelegate");
ONEXN_ABI_ASSERT(sizeof(TfLiteDimensionMetadata) == 24, "TfLiteDimensionMetadata");
ONEXN_ABI_ASSERT(offsetof(TfLiteSparsity, dim_metadata_size) == 24, "TfLiteSparsity.dim_metadata_size");
ONEXN_ABI_ASSERT(sizeof(TfLiteConvParams) == 24, "TfLiteConvParams prefix");
ONEXN_ABI_ASSERT(offsetof(TfLiteFullyConnectedParams, keep_num_dims) == 8, "keep_num_dims");
ONEXN_ABI_ASSERT(sizeof(TfLiteDepthwiseConvParams) == 28, "TfLiteDepthwiseConvParams");
ONEXN_ABI_ASSERT(sizeof(TfLiteAddParams) == 8, "TfLiteAddParams");
ONEXN_ABI_ASSERT(sizeof(TfLiteReducerParams) == 1, "TfLiteReducerParams");
ONEXN_ABI_ASSERT(sizeof(TfLitePoolParams) == 40, "TfLitePoolParams");
ONEXN_ABI_ASSERT(sizeof(TfLiteSoftmaxParams) == 4, "TfLiteSoftmaxParams");
ONEXN_ABI_ASSERT(sizeof(TfLiteConcatenationParams) == 8, "TfLiteConcatenationParams");
ONEXN_ABI_ASSERT(offsetof(TfLiteReshapeParams, num_dimensions) == 32, "TfLiteReshapeParams.num_dimensions");
#undef ONEXN_ABI_ASSERT
#endif

#endif  // ONEXN_TFLITE_ABI_H_
