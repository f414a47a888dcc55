// OpenBLAS's CBLAS interface plus its threading and core-detection extensions.
#ifndef ATELIER_COPENBLAS_SHIM_H
#define ATELIER_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
