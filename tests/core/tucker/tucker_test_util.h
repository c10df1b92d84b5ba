#pragma once
// Helpers shared by the Tucker engine tests.

#include <random>

#include <Eigen/Dense>

namespace tllm::test {

/// A random n x r matrix with orthonormal columns (Householder QR of a Gaussian matrix), in
/// float or double.
template <class Scalar = float>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> random_orthonormal(int n, int r, std::mt19937& g) {
    using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
    std::normal_distribution<Scalar> N;
    Mat A(n, r);
    for (Eigen::Index i = 0; i < A.size(); ++i) A.data()[i] = N(g);
    Eigen::HouseholderQR<Mat> qr(A);
    return qr.householderQ() * Mat::Identity(n, r);
}

}  // namespace tllm::test
