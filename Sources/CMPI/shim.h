// OpenMPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE, ...) are macros over
// addresses of extern structs, which Swift cannot import. These inline functions return them.
#ifndef ATELIER_CMPI_SHIM_H
#define ATELIER_CMPI_SHIM_H
#include <mpi.h>
#include <limits.h>
#include <malloc.h>

static inline MPI_Comm atelier_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm atelier_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype atelier_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype atelier_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype atelier_mpi_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Datatype atelier_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype atelier_mpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype atelier_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op atelier_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op atelier_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op atelier_mpi_min(void) { return MPI_MIN; }
static inline MPI_Op atelier_mpi_bor(void) { return MPI_BOR; }
static inline void *atelier_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Request atelier_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *atelier_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *atelier_mpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
static inline MPI_Info atelier_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline int atelier_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline MPI_Errhandler atelier_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int atelier_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int atelier_mpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline int atelier_mpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline int atelier_mpi_status_source(const MPI_Status *s) { return s->MPI_SOURCE; }


// Reads the MPI_T control variable `name` (for Open MPI, an MCA parameter such as
// "btl_tcp_eager_limit") as an integer into *value: what the library is actually using, whatever
// set it. Returns MPI_SUCCESS, an MPI error code, or -1 when the variable is not of an integer type.
static inline int atelier_mpi_t_cvar_integer(const char *name, long long *value) {
    int provided = 0, index = 0, count = 0;
    int rc = MPI_T_init_thread(MPI_THREAD_SINGLE, &provided);
    if (rc != MPI_SUCCESS) return rc;
    rc = MPI_T_cvar_get_index(name, &index);
    if (rc == MPI_SUCCESS) {
        char found[256], desc[1024];
        int found_len = sizeof found, desc_len = sizeof desc, verbosity = 0, bind = 0, scope = 0;
        MPI_Datatype type;
        MPI_T_enum enumtype;
        rc = MPI_T_cvar_get_info(index, found, &found_len, &verbosity, &type, &enumtype, desc, &desc_len, &bind, &scope);
        MPI_T_cvar_handle handle;
        if (rc == MPI_SUCCESS) rc = MPI_T_cvar_handle_alloc(index, NULL, &handle, &count);
        if (rc == MPI_SUCCESS) {
            union { int i; unsigned u; long l; unsigned long ul; long long ll; unsigned long long ull; char bytes[64]; } v;
            rc = MPI_T_cvar_read(handle, &v);
            if (rc == MPI_SUCCESS) {
                if (type == MPI_INT) *value = v.i;
                else if (type == MPI_UNSIGNED) *value = v.u;
                else if (type == MPI_LONG) *value = v.l;
                else if (type == MPI_UNSIGNED_LONG) *value = (long long)v.ul;
                else if (type == MPI_LONG_LONG) *value = v.ll;
                else if (type == MPI_UNSIGNED_LONG_LONG) *value = (long long)v.ull;
                else rc = -1;
            }
            MPI_T_cvar_handle_free(&handle);
        }
    }
    MPI_T_finalize();
    return rc;
}

// Serve every allocation from the heap and never trim it, so the temporary buffers OpenMPI's
// non-blocking collectives allocate on each call are reused instead of being fresh mmap pages
// that the kernel faults in and zeroes every time (see Communicator.retainFreedMemory).
static inline void atelier_retain_freed_memory(void) {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
}

#endif
