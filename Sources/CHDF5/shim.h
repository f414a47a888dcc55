// HDF5's H5T_NATIVE_*, H5F_ACC_*, H5P_DEFAULT, ... are macros (several call H5open()), which Swift
// cannot import. These inline functions return them.
#ifndef ATELIER_CHDF5_SHIM_H
#define ATELIER_CHDF5_SHIM_H
#include <hdf5.h>

static inline hid_t atelier_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t atelier_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t atelier_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t atelier_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t atelier_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t atelier_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t atelier_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t atelier_h5t_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t atelier_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t atelier_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t atelier_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t atelier_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t atelier_h5s_all(void) { return H5S_ALL; }
static inline unsigned atelier_h5f_acc_excl(void) { return H5F_ACC_EXCL; }
static inline unsigned atelier_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline void atelier_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

#endif
