#include "layerlab/plan/transplant_check.h"

#include <fmt/format.h>

#include <algorithm>

namespace layerlab {

std::vector<std::string> transplant_differences(const ModelConfig& host, int host_layer, const ModelConfig& donor,
                                                int donor_layer) {
  std::vector<std::string> diffs;
  auto differ = [&](const char* what, auto h, auto d) {
    if (h != d) diffs.push_back(fmt::format("{}: host {} != donor {}", what, h, d));
  };
  const LayerSpec& hl = host.layers.at(static_cast<size_t>(std::clamp(host_layer, 0, host.n_layer - 1)));
  const LayerSpec& dl = donor.layers.at(static_cast<size_t>(donor_layer));

  differ("architecture", host.arch_name, donor.arch_name);
  differ("width (embedding_length)", host.n_embd, donor.n_embd);
  differ("layer kind", mixer_kind_name(hl.mixer), mixer_kind_name(dl.mixer));
  differ("ffn kind", ffn_kind_name(hl.ffn), ffn_kind_name(dl.ffn));
  differ("norm epsilon", host.rms_eps, donor.rms_eps);
  if (dl.mixer == MixerKind::kAttention) {
    differ("attention heads", hl.n_head, dl.n_head);
    differ("kv heads", hl.n_head_kv, dl.n_head_kv);
    differ("head dim (key)", host.head_dim_k, donor.head_dim_k);
    differ("head dim (value)", host.head_dim_v, donor.head_dim_v);
    differ("rope type", rope_type_name(host.rope_type), rope_type_name(donor.rope_type));
    differ("rope dimensions", host.n_rot, donor.n_rot);
    differ("rope base", host.rope_freq_base, donor.rope_freq_base);
    differ("rope frequency scale", host.rope_freq_scale, donor.rope_freq_scale);
  } else {
    differ("ssm conv kernel", host.ssm_conv_kernel, donor.ssm_conv_kernel);
    differ("ssm state size", host.ssm_state_size, donor.ssm_state_size);
    differ("ssm k heads", host.ssm_group_count, donor.ssm_group_count);
    differ("ssm v heads", host.ssm_time_step_rank, donor.ssm_time_step_rank);
    differ("ssm inner size", host.ssm_inner_size, donor.ssm_inner_size);
  }
  if (dl.ffn == FfnKind::kDense) {
    differ("ffn width", hl.n_ff, dl.n_ff);
  } else {
    differ("experts", host.n_expert, donor.n_expert);
    differ("experts per token", host.n_expert_used, donor.n_expert_used);
    differ("expert ffn width", host.n_ff_expert, donor.n_ff_expert);
    differ("shared expert ffn width", host.n_ff_shared_expert, donor.n_ff_shared_expert);
  }
  return diffs;
}

void check_transplants(const Plan& plan, const ModelConfig& host, const std::vector<ModelConfig>& donors) {
  std::string message;
  for (size_t j = 0; j < plan.slots.size(); ++j) {
    const PlanSlot& s = plan.slots[j];
    if (s.model == 0) continue;
    const ModelConfig& donor = donors.at(static_cast<size_t>(s.model - 1));
    for (const auto& d : transplant_differences(host, s.layer, donor, s.layer))
      message += fmt::format("{}slot {} (donor{}:{}): {}", message.empty() ? "" : "\n", j, s.model, s.layer, d);
  }
  if (!message.empty()) throw PlanError("transplant refused, shapes differ:\n" + message);
}

}  // namespace layerlab
