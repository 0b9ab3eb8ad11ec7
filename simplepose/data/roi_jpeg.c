/* Region-of-interest JPEG decoding with libjpeg-turbo, for simplepose.data.decode (loaded with ctypes).
 *
 * A top-down crop needs only the part of the image under the warp. libjpeg-turbo can skip the rest:
 * jpeg_skip_scanlines() skips rows above the region (entropy decoding only, no IDCT or colour
 * conversion), jpeg_crop_scanline() limits each row to the region's columns (widened to whole iMCUs),
 * and decoding stops after the region's last row. DCT scaling (scale_denom 2, 4, 8) still applies.
 *
 * Warnings are errors here (libjpeg would otherwise decode a damaged file silently), and no libjpeg
 * error ever exits the process: error_exit longjmps back into simplepose_roi_decode.
 *
 * Built by pip install (setup.py), as by hand: cc -O2 -shared -fPIC -o simplepose/data/libroijpeg.so
 * simplepose/data/roi_jpeg.c -ljpeg. Without the library, decode.py decodes whole images instead.
 */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <jpeglib.h>

#ifndef JCS_EXTENSIONS
#error "needs libjpeg-turbo >= 1.5 (JCS_EXT_BGR, jpeg_crop_scanline, jpeg_skip_scanlines)"
#endif

struct guard {
    struct jpeg_error_mgr mgr;
    jmp_buf escape;
    char *message;
};

static void fail(j_common_ptr cinfo) {
    struct guard *g = (struct guard *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, g->message);
    longjmp(g->escape, 1);
}

static void warn(j_common_ptr cinfo, int level) {
    if (level < 0)  /* a warning: corrupt or truncated data */
        fail(cinfo);
}

/* Decode rows [y0, y1) and columns covering [x0, x1) of `data` at 1/scale_denom, as packed BGR, into
 * their place in `out`, the (height, width, 3) image the whole scaled decode would fill; the rest of
 * `out` is left as it is. Coordinates are pixels of the scaled image: 0 <= x0 < x1 <= width, the same
 * for y. The columns decoded start at info[0] <= x0 (an iMCU boundary) and are info[1] wide.
 * Returns 0 on success, 1 on a libjpeg error (text in message, JMSG_LENGTH_MAX bytes), 2 when the
 * scaled image is not width x height or the region is not inside it. */
int simplepose_roi_decode(const unsigned char *data, unsigned long size, int scale_denom,
                          int x0, int y0, int x1, int y1, unsigned char *out, int width, int height,
                          int *info, char *message) {
    struct jpeg_decompress_struct cinfo;
    struct guard g;
    volatile int status = 0;
    cinfo.err = jpeg_std_error(&g.mgr);
    g.mgr.error_exit = fail;
    g.mgr.emit_message = warn;
    g.message = message;
    message[0] = '\0';
    jpeg_create_decompress(&cinfo);
    if (setjmp(g.escape)) {
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    jpeg_mem_src(&cinfo, data, size);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_EXT_BGR;
    cinfo.scale_num = 1;
    cinfo.scale_denom = (unsigned int)scale_denom;
    jpeg_start_decompress(&cinfo);
    if ((int)cinfo.output_width != width || (int)cinfo.output_height != height || x0 < 0 || y0 < 0
            || x1 <= x0 || y1 <= y0 || x1 > width || y1 > height) {
        status = 2;
    } else {
        JDIMENSION xoffset = (JDIMENSION)x0, cropped = (JDIMENSION)(x1 - x0);
        jpeg_crop_scanline(&cinfo, &xoffset, &cropped);
        info[0] = (int)xoffset;
        info[1] = (int)cropped;
        if (y0 > 0)
            jpeg_skip_scanlines(&cinfo, (JDIMENSION)y0);
        while (cinfo.output_scanline < (JDIMENSION)y1) {
            JSAMPROW row = out + ((unsigned long)cinfo.output_scanline * (unsigned long)width + xoffset) * 3UL;
            jpeg_read_scanlines(&cinfo, &row, 1);
        }
    }
    /* Rows below the region are never decoded: abort rather than finish. */
    jpeg_abort_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return status;
}
