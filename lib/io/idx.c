/* The IDX format (MNIST, Fashion-MNIST): two zero bytes, an element type, the
 * number of dimensions, each dimension as a big-endian u32, then the elements
 * row-major and big-endian. */
#include "io/dataset.h"
#include "io/io_internal.h"

static size_t idx_elem_size(int type)
{
    switch (type) {
    case TDL_IDX_U8:
    case TDL_IDX_I8: return 1;
    case TDL_IDX_I16: return 2;
    case TDL_IDX_I32:
    case TDL_IDX_F32: return 4;
    case TDL_IDX_F64: return 8;
    default: return 0;
    }
}

tdl_status tdl_idx_parse(const unsigned char *buf, size_t len, const char *path, tdl_idx *out,
                         char *msg)
{
    if (len < 4)
        return tdl_io_msg(msg, TDL_ERR_FORMAT,
                          "'%s' is not an IDX file: %zu bytes, shorter than the 4-byte magic", path,
                          len);
    if (buf[0] != 0 || buf[1] != 0)
        return tdl_io_msg(msg, TDL_ERR_FORMAT,
                          "'%s' is not an IDX file: magic starts with %02x %02x, not 00 00", path,
                          buf[0], buf[1]);
    out->type = buf[2];
    out->ndim = buf[3];
    out->elem_size = idx_elem_size(out->type);
    if (out->elem_size == 0)
        return tdl_io_msg(msg, TDL_ERR_FORMAT, "'%s': unknown IDX element type 0x%02x", path,
                          out->type);
    if (out->ndim < 1)
        return tdl_io_msg(msg, TDL_ERR_FORMAT, "'%s': IDX header has 0 dimensions", path);
    size_t header = 4 + 4 * (size_t)out->ndim;
    if (len < header)
        return tdl_io_msg(msg, TDL_ERR_FORMAT,
                          "'%s' is truncated: the header of %d dimensions needs %zu bytes, the "
                          "file has %zu",
                          path, out->ndim, header, len);
    uint64_t count = 1;
    int overflow = 0;
    for (int i = 0; i < out->ndim; ++i) {
        out->dims[i] = tdl_io_load_u32_be(buf + 4 + 4 * (size_t)i);
        if (out->dims[i] != 0 && count > UINT64_MAX / out->dims[i])
            overflow = 1;
        else
            count *= out->dims[i];
    }
    /* Bytes the elements need, as long as it fits in 63 bits. */
    if (overflow || count > (uint64_t)INT64_MAX / out->elem_size)
        return tdl_io_msg(msg, TDL_ERR_FORMAT,
                          "'%s': IDX dimensions overflow (their product does not fit 63 bits)",
                          path);
    uint64_t bytes = count * out->elem_size;
    uint64_t have = (uint64_t)(len - header);
    if (have < bytes)
        return tdl_io_msg(msg, TDL_ERR_FORMAT,
                          "'%s' is truncated: its dimensions need %llu bytes of data, it has %llu",
                          path, (unsigned long long)bytes, (unsigned long long)have);
    if (have > bytes)
        return tdl_io_msg(msg, TDL_ERR_FORMAT,
                          "'%s': %llu bytes after the %llu bytes of data its dimensions announce",
                          path, (unsigned long long)(have - bytes), (unsigned long long)bytes);
    out->count = count;
    out->data = buf + header;
    return TDL_OK;
}

int64_t tdl_idx_int(const tdl_idx *idx, uint64_t i)
{
    const unsigned char *p = idx->data + i * idx->elem_size;
    switch (idx->type) {
    case TDL_IDX_U8: return p[0];
    case TDL_IDX_I8: return (int8_t)p[0];
    case TDL_IDX_I16: return (int16_t)(uint16_t)(((unsigned)p[0] << 8) | p[1]);
    case TDL_IDX_I32: return (int32_t)tdl_io_load_u32_be(p);
    default: return 0;
    }
}
