// Reference values from libstdc++ for the sampler engine's random draws and sort order.
// Build and run: g++ -std=c++17 -O2 libstdcxx_reference.cpp -o ref && ./ref > out.json
// tests/calculators/test_sampling.py compiles and runs this when g++ is present and
// compares it with calculators/sampling.py; tests/js/sampling_vectors.json holds a copy
// of its output ("libstdcxx") for the JavaScript tests.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

int main() {
    const unsigned seeds[] = {0u, 1u, 42u, 1234u, 4294967295u};
    std::printf("{\n");

    // std::mt19937 raw outputs, uniform_real_distribution<float>(0, 1) (XTC's coin) and
    // uniform_real_distribution<double>(0, 1) (llama_sampler_dist's draw).
    std::printf("  \"mt19937\": [\n");
    for (int s = 0; s < 5; ++s) {
        std::mt19937 raw(seeds[s]), rf(seeds[s]), rd(seeds[s]);
        std::uniform_real_distribution<float> uf(0.0f, 1.0f);
        std::uniform_real_distribution<double> ud(0.0, 1.0);
        std::printf("    {\"seed\": %u, \"raw\": [", seeds[s]);
        for (int i = 0; i < 6; ++i) std::printf("%s%u", i ? ", " : "", (unsigned) raw());
        std::printf("], \"uniform_float\": [");
        for (int i = 0; i < 6; ++i) std::printf("%s%.9g", i ? ", " : "", (double) uf(rf));
        std::printf("], \"uniform_double\": [");
        for (int i = 0; i < 6; ++i) std::printf("%s%.17g", i ? ", " : "", ud(rd));
        std::printf("]}%s\n", s < 4 ? "," : "");
    }
    std::printf("  ],\n");

    // std::discrete_distribution<int> over float weights, as llama_sample_dist builds it
    // (mirostat's draw): 12 successive draws from one generator per case.
    const std::vector<std::vector<float>> weights = {
        {0.4f, 0.3f, 0.2f, 0.1f},
        {0.7f, 0.2f, 0.05f, 0.05f},
        {1.0f},
        {0.25f, 0.25f, 0.25f, 0.25f},
        {0.5f, 0.0f, 0.5f},
    };
    std::printf("  \"discrete\": [\n");
    for (size_t w = 0; w < weights.size(); ++w) {
        for (int s = 0; s < 3; ++s) {
            std::mt19937 rng(seeds[s]);
            std::discrete_distribution<int> dist(weights[w].begin(), weights[w].end());
            std::printf("    {\"seed\": %u, \"weights\": [", seeds[s]);
            for (size_t i = 0; i < weights[w].size(); ++i) std::printf("%s%.9g", i ? ", " : "", (double) weights[w][i]);
            std::printf("], \"draws\": [");
            for (int i = 0; i < 12; ++i) std::printf("%s%d", i ? ", " : "", dist(rng));
            std::printf("]}%s\n", (w + 1 < weights.size() || s < 2) ? "," : "");
        }
    }
    std::printf("  ],\n");

    // std::sort when every comparison is false (typical sampling's NaN scores).
    std::printf("  \"sort_all_equivalent\": [\n");
    const int sizes[] = {1, 5, 16, 17, 18, 33, 100, 257};
    for (int k = 0; k < 8; ++k) {
        std::vector<size_t> idx(sizes[k]);
        std::iota(idx.begin(), idx.end(), 0);
        const float nan = std::nanf("");
        std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { (void) a; (void) b; return nan < nan; });
        std::printf("    {\"n\": %d, \"order\": [", sizes[k]);
        for (size_t i = 0; i < idx.size(); ++i) std::printf("%s%zu", i ? ", " : "", idx[i]);
        std::printf("]}%s\n", k < 7 ? "," : "");
    }
    std::printf("  ]\n}\n");
    return 0;
}
