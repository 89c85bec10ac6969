//! Row-major matrix products through the `gemm` crate.
//!
//! burn's CPU backend reaches about 180 GFLOP/s on the SAE's shapes; calling
//! `gemm` directly reaches about 490 (docs/performance.md), and the SAE step
//! is nothing but four products and some elementwise work.

/// A row-major matrix view: `rows x cols`, element `(i, j)` at `i * row_stride + j * col_stride`.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
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
            transposed: false,
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
            (1, self.rows as isize)
        } else {
            (self.cols as isize, 1)
        }
    }
}

/// `out = a @ b` (`accumulate`: `out += a @ b`), `out` row-major `a.rows x b.cols`.
pub fn matmul(out: &mut [f32], a: View, b: View, accumulate: bool) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    assert_eq!(out.len(), a.rows * b.cols);
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
            b.cols as isize,
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
}
