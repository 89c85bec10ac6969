//! Row-major matrix products through the `gemm` crate.
//!
//! burn's CPU backend reaches about 180 GFLOP/s on the SAE's shapes; calling
//! `gemm` directly reaches about 490 (docs/performance.md), and the SAE step
//! is nothing but four products and some elementwise work.

/// A row-major matrix view: `rows x cols`, row `i` starting at `i * stride`
/// (`stride` is `cols` unless the view is a block of columns).
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    stride: usize,
    transposed: bool,
}

impl<'a> View<'a> {
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "matrix data does not match {rows}x{cols}"
        );
        Self {
            data,
            rows,
            cols,
            stride: cols,
            transposed: false,
        }
    }

    /// Columns `lo..hi` of an untransposed view (no copy).
    pub fn columns(self, lo: usize, hi: usize) -> Self {
        assert!(
            !self.transposed && lo <= hi && hi <= self.cols,
            "column block"
        );
        Self {
            data: &self.data[lo..],
            cols: hi - lo,
            ..self
        }
    }

    /// Rows `lo..hi` of an untransposed view (no copy).
    pub fn rows(self, lo: usize, hi: usize) -> Self {
        assert!(!self.transposed && lo <= hi && hi <= self.rows, "row block");
        Self {
            data: &self.data[lo * self.stride..],
            rows: hi - lo,
            ..self
        }
    }

    /// The transpose, without copying.
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            transposed: !self.transposed,
            ..self
        }
    }

    /// (row stride, column stride) of the logical matrix.
    fn strides(&self) -> (isize, isize) {
        if self.transposed {
            (1, self.stride as isize)
        } else {
            (self.stride as isize, 1)
        }
    }
}

/// `out = a @ b` (`accumulate`: `out += a @ b`), `out` row-major `a.rows x b.cols`.
pub fn matmul(out: &mut [f32], a: View, b: View, accumulate: bool) {
    matmul_into(out, b.cols, a, b, accumulate)
}

/// `matmul` into a block of columns: row `i` of the result starts at
/// `out[i * out_stride]` (`out_stride >= b.cols`).
pub fn matmul_into(out: &mut [f32], out_stride: usize, a: View, b: View, accumulate: bool) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    assert!(out_stride >= b.cols);
    if a.rows == 0 || b.cols == 0 {
        return;
    }
    assert!(
        out.len() >= (a.rows - 1) * out_stride + b.cols,
        "output too small"
    );
    for v in [&a, &b] {
        let (outer, inner) = if v.transposed {
            (v.cols, v.rows)
        } else {
            (v.rows, v.cols)
        };
        if outer > 0 && inner > 0 {
            assert!(
                v.data.len() >= (outer - 1) * v.stride + inner,
                "view out of bounds"
            );
        }
    }
    let (a_rs, a_cs) = a.strides();
    let (b_rs, b_cs) = b.strides();
    // SAFETY: every pointer covers a full row-major or transposed matrix of
    // the stated shape (checked above); `out` does not alias the inputs.
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            out.as_mut_ptr(),
            1,
            out_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
            b_cs,
            b_rs,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_and_transposes() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2x3
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3x2
        let mut out = [0.0; 4];
        matmul(&mut out, View::new(&a, 2, 3), View::new(&b, 3, 2), false);
        assert_eq!(out, [4.0, 5.0, 10.0, 11.0]);
        // a^T a: 3x3
        let mut ata = [0.0; 9];
        matmul(
            &mut ata,
            View::new(&a, 2, 3).t(),
            View::new(&a, 2, 3),
            false,
        );
        assert_eq!(ata, [17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0]);
        // accumulate
        matmul(&mut out, View::new(&a, 2, 3), View::new(&b, 3, 2), true);
        assert_eq!(out, [8.0, 10.0, 20.0, 22.0]);
    }

    #[test]
    fn column_blocks_and_strided_output() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2x3
                                                // a[:, 1..3] @ a[:, 1..3]^T = [[13, 28], [28, 61]]
        let blk = View::new(&a, 2, 3).columns(1, 3);
        let mut out = [0.0; 2 * 5];
        matmul_into(&mut out[1..], 5, blk, blk.t(), false);
        assert_eq!(out, [0.0, 13.0, 28.0, 0.0, 0.0, 0.0, 28.0, 61.0, 0.0, 0.0]);
        let mut row = [0.0; 3];
        matmul(
            &mut row,
            View::new(&[1.0], 1, 1),
            View::new(&a, 2, 3).rows(1, 2),
            false,
        );
        assert_eq!(row, [4.0, 5.0, 6.0]);
    }
}
