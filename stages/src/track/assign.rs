//! Optimal assignment (Kuhn–Munkres from `pathfinding`) for any matrix shape.

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

/// For each row, the column it is assigned to, maximising the total weight. Weights must be
/// non-negative; a pair of weight 0 is never reported (0 means "may not be paired").
pub fn max_weight(weights: &[Vec<i64>]) -> Vec<Option<usize>> {
    let rows = weights.len();
    let cols = weights.first().map_or(0, Vec::len);
    let mut out = vec![None; rows];
    if rows == 0 || cols == 0 {
        return out;
    }
    if rows <= cols {
        let Ok(m) = Matrix::from_rows(weights.iter().cloned()) else {
            return out;
        };
        let (_, assign) = kuhn_munkres(&m);
        for (r, c) in assign.into_iter().enumerate() {
            if weights[r][c] > 0 {
                out[r] = Some(c);
            }
        }
    } else {
        let t: Vec<Vec<i64>> = (0..cols)
            .map(|c| (0..rows).map(|r| weights[r][c]).collect())
            .collect();
        let Ok(m) = Matrix::from_rows(t) else {
            return out;
        };
        let (_, assign) = kuhn_munkres(&m);
        for (c, r) in assign.into_iter().enumerate() {
            if weights[r][c] > 0 {
                out[r] = Some(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optimal_not_greedy_and_any_shape() {
        // Greedy would take (0,0)=9 and then (1,1)=1: total 10; optimal is 8 + 7 = 15.
        assert_eq!(max_weight(&[vec![9, 8], vec![7, 1]]), [Some(1), Some(0)]);
        // More rows than columns, and forbidden pairs.
        assert_eq!(
            max_weight(&[vec![5], vec![0], vec![6]]),
            [None, None, Some(0)]
        );
        assert_eq!(max_weight(&[vec![0, 0]]), [None]);
        assert!(max_weight(&[]).is_empty());
    }
}
