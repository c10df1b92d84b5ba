#include "edits/edit.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <Eigen/Dense>

#include "io/dtype.h"
#include "tucker/linalg.h"

namespace tllm::edits {

std::vector<tensor::RebuiltTensor> attention_tensors(const model::Model& m, int layer, const tucker::TuckerResult& T,
                                                     const util::Control& ctl) {
    const auto& S = m.shape();
    const std::array<std::int64_t, 4> want{S.d, S.dv, 4, S.h};
    for (int n = 0; n < 3; ++n)
        if (T.factors[std::size_t(n)].rows() != want[std::size_t(n)])
            throw std::invalid_argument("layer " + std::to_string(layer) + ": factor U" + std::to_string(n + 1) +
                                        " has " + std::to_string(T.factors[std::size_t(n)].rows()) +
                                        " rows, the model's mode has " + std::to_string(want[std::size_t(n)]));
    if (T.core.dim[3] != S.h)
        throw std::invalid_argument("layer " + std::to_string(layer) + ": the core has " +
                                    std::to_string(T.core.dim[3]) + " heads, the model " + std::to_string(S.h));
    return tensor::detensorize(m, layer, tucker::reconstruct(T, ctl));
}

std::string LaserSpec::describe() const {
    return std::string(eval::mlp_matrix_name(matrix)) + ":" + std::to_string(rank);
}

std::vector<LaserSpec> parse_laser_list(const std::string& text, const std::string& what) {
    std::vector<LaserSpec> out;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t end = text.find(',', pos);
        if (end == std::string::npos) end = text.size();
        std::string item = text.substr(pos, end - pos);
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        const auto colon = item.find(':');
        if (colon == std::string::npos)
            throw std::invalid_argument(what + ": '" + item + "' is not MATRIX:RANK (MATRIX one of up, down, gate)");
        const std::string mat = item.substr(0, colon), rk = item.substr(colon + 1);
        LaserSpec s;
        if (mat == "up")
            s.matrix = eval::MlpMatrix::Up;
        else if (mat == "down")
            s.matrix = eval::MlpMatrix::Down;
        else if (mat == "gate")
            s.matrix = eval::MlpMatrix::Gate;
        else
            throw std::invalid_argument(what + ": unknown matrix '" + mat + "' in '" + item + "' (up, down, gate)");
        std::size_t used = 0;
        long r = 0;
        try {
            r = std::stol(rk, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || used != rk.size() || r < 1 || r > 1000000)
            throw std::invalid_argument(what + ": rank '" + rk + "' in '" + item + "' must be a positive integer");
        s.rank = int(r);
        out.push_back(s);
        pos = end + 1;
    }
    if (out.empty()) throw std::invalid_argument(what + ": empty list");
    return out;
}

LaserResult laser_tensor(const eval::Transformer& t, int layer, const LaserSpec& spec, const util::Control& ctl) {
    const std::string name = t.mlp_tensor_name(layer, spec.matrix);
    const io::TensorRef ref = t.model().checkpoint().at(name);
    const auto& info = *ref.info;
    if (info.shape.size() != 2) throw std::invalid_argument("LASER: " + name + " is not a matrix");
    const auto rows = Eigen::Index(info.shape[0]), cols = Eigen::Index(info.shape[1]);
    const int rmax = int(std::min(rows, cols));
    if (spec.rank < 1 || spec.rank > rmax)
        throw std::invalid_argument("LASER rank " + std::to_string(spec.rank) + " of " + name + " (" +
                                    std::to_string(rows) + " x " + std::to_string(cols) + ") is outside 1.." +
                                    std::to_string(rmax));
    // Row-major (rows, cols) as stored; the truncation is the same for either orientation.
    using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    RowMajorF A(rows, cols);
    ref.file->read_f32(info, A.data());
    ctl.check();
    const bool wide = cols > rows;  // Gram of the smaller side
    const Eigen::MatrixXf Gf = wide ? Eigen::MatrixXf(A * A.transpose()) : Eigen::MatrixXf(A.transpose() * A);
    const Eigen::MatrixXd G = Gf.cast<double>();
    ctl.check();
    const auto top = tucker::top_eigenpairs(G, spec.rank);
    const Eigen::MatrixXf V = top.vectors.cast<float>();
    // A_r = P A with P = V V^T on the column space (wide) or A V V^T on the row space.
    RowMajorF Ar = wide ? RowMajorF(V * (V.transpose() * A)) : RowMajorF((A * V) * V.transpose());
    ctl.check();
    double total = 0, kept = 0;
    for (Eigen::Index i = 0; i < A.size(); ++i) total += double(A.data()[i]) * A.data()[i];
    for (Eigen::Index i = 0; i < top.values.size(); ++i) kept += std::max(0.0, top.values[i]);
    LaserResult r;
    r.rel_error = total > 0 ? std::sqrt(std::max(0.0, total - kept) / total) : 0.0;
    r.params = std::uint64_t(rows) * std::uint64_t(cols);
    r.params_rank = std::uint64_t(spec.rank) * std::uint64_t(rows + cols);
    r.tensor.name = name;
    r.tensor.dtype = io::dtype_for_rewrite(info.dtype);
    r.tensor.shape = info.shape;
    r.tensor.bytes.resize(std::size_t(Ar.size()) * io::dtype_size(r.tensor.dtype));
    io::from_float32(r.tensor.dtype, Ar.data(), std::size_t(Ar.size()), r.tensor.bytes.data());
    return r;
}

void add_to(EditSet& set, int layer, std::vector<tensor::RebuiltTensor> tensors) {
    auto& v = set[layer];
    for (auto& t : tensors) {
        auto it = std::find_if(v.begin(), v.end(), [&](const tensor::RebuiltTensor& x) { return x.name == t.name; });
        if (it != v.end())
            *it = std::move(t);
        else
            v.push_back(std::move(t));
    }
}

void apply_edits(eval::Transformer& t, const EditSet& set) {
    t.clear_layer_override();
    for (const auto& [layer, tensors] : set) t.set_layer_override(layer, tensors);
}

}  // namespace tllm::edits
