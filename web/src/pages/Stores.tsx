import { PageHeader } from '../components/common';

export function StoresPage() {
  return <PageHeader title="Stores" />;
}
