/* Internal: limits shared by the safetensors reader and writer. */
#ifndef TDL_IO_SAFETENSORS_H
#define TDL_IO_SAFETENSORS_H

#include "io/json.h"

/* Largest header accepted (and written): the limit of the reference
 * implementation, which keeps a hostile length from forcing a huge read. */
#define TDL_ST_MAX_HEADER 100000000

#endif
