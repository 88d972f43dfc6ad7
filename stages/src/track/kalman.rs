//! Constant-velocity Kalman filter on boxes as (centre x, centre y, aspect ratio w/h, height),
//! as SORT, DeepSORT and ByteTrack use it. Time steps are in units of 1/30 s, so a variable
//! frame rate (from `pts_ns`) predicts the right distance.

use nalgebra::{SMatrix, SVector};

type Mat8 = SMatrix<f32, 8, 8>;
type Vec8 = SVector<f32, 8>;
type Mat4 = SMatrix<f32, 4, 4>;
type Vec4 = SVector<f32, 4>;
type Mat48 = SMatrix<f32, 4, 8>;

const STD_POSITION: f32 = 1.0 / 20.0;
const STD_VELOCITY: f32 = 1.0 / 160.0;

/// One box's filter state.
#[derive(Clone, Debug)]
pub struct Kalman {
    mean: Vec8,
    cov: Mat8,
}

/// A box as left, top, width, height.
pub type Tlwh = [f32; 4];

fn to_xyah(b: &Tlwh) -> Vec4 {
    Vec4::new(
        b[0] + b[2] / 2.0,
        b[1] + b[3] / 2.0,
        b[2] / b[3].max(1e-6),
        b[3],
    )
}

fn h_matrix() -> Mat48 {
    let mut h = Mat48::zeros();
    for i in 0..4 {
        h[(i, i)] = 1.0;
    }
    h
}

impl Kalman {
    /// Start from a measured box, with no velocity.
    pub fn new(b: &Tlwh) -> Self {
        let z = to_xyah(b);
        let mut mean = Vec8::zeros();
        mean.fixed_rows_mut::<4>(0).copy_from(&z);
        let h = z[3];
        let std = [
            2.0 * STD_POSITION * h,
            2.0 * STD_POSITION * h,
            1e-2,
            2.0 * STD_POSITION * h,
            10.0 * STD_VELOCITY * h,
            10.0 * STD_VELOCITY * h,
            1e-5,
            10.0 * STD_VELOCITY * h,
        ];
        Kalman {
            mean,
            cov: Mat8::from_diagonal(&Vec8::from_iterator(std.iter().map(|s| s * s))),
        }
    }

    /// Advance by `dt` time units (1 = 1/30 s).
    pub fn predict(&mut self, dt: f32) {
        let dt = dt.max(0.0);
        let mut f = Mat8::identity();
        for i in 0..4 {
            f[(i, i + 4)] = dt;
        }
        let h = self.mean[3];
        let q = [
            STD_POSITION * h,
            STD_POSITION * h,
            1e-2,
            STD_POSITION * h,
            STD_VELOCITY * h,
            STD_VELOCITY * h,
            1e-5,
            STD_VELOCITY * h,
        ];
        let q = Mat8::from_diagonal(&Vec8::from_iterator(q.iter().map(|s| s * s * dt.max(1e-3))));
        self.mean = f * self.mean;
        self.cov = f * self.cov * f.transpose() + q;
    }

    /// Stop the height from changing (a lost track: without measurements a growing or
    /// shrinking box soon matches nothing; SORT-family trackers do the same).
    pub fn hold_height(&mut self) {
        self.mean[7] = 0.0;
    }

    /// Correct with a measured box.
    pub fn update(&mut self, b: &Tlwh) {
        let hm = h_matrix();
        let h = self.mean[3];
        let r = [STD_POSITION * h, STD_POSITION * h, 1e-1, STD_POSITION * h];
        let r = Mat4::from_diagonal(&Vec4::from_iterator(r.iter().map(|s| s * s)));
        let s = hm * self.cov * hm.transpose() + r;
        let Some(s_inv) = s.try_inverse() else { return };
        let k = self.cov * hm.transpose() * s_inv;
        let innovation = to_xyah(b) - hm * self.mean;
        self.mean += k * innovation;
        self.cov -= k * s * k.transpose();
    }

    /// The current box estimate as left, top, width, height.
    pub fn tlwh(&self) -> Tlwh {
        let (cx, cy, a, h) = (self.mean[0], self.mean[1], self.mean[2], self.mean[3]);
        let w = a * h;
        [cx - w / 2.0, cy - h / 2.0, w, h]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_velocity_and_predicts_by_time() {
        let mut k = Kalman::new(&[0.0, 0.0, 10.0, 20.0]);
        for i in 1..=20 {
            k.predict(1.0);
            k.update(&[i as f32 * 3.0, 0.0, 10.0, 20.0]);
        }
        // Moving 3 px per step: two steps ahead is about 6 px further.
        let before = k.tlwh()[0];
        k.predict(2.0);
        let after = k.tlwh()[0];
        assert!((after - before - 6.0).abs() < 0.5, "{before} -> {after}");
        let b = k.tlwh();
        assert!((b[2] - 10.0).abs() < 0.1 && (b[3] - 20.0).abs() < 0.1);
    }
}
